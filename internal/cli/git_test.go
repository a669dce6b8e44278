package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// TestRenderGitSource renders manifests whose source is the checkout's remote and HEAD commit:
// what a GitOps repository holds. No cluster and no registry are involved.
func TestRenderGitSource(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	files := map[string]string{
		"fleet.kdl":          "project \"p\"\nregistry \"ghcr.io/org\"\nservice \"api\" {\n context \"svc\"\n dockerfile \"svc/Dockerfile\"\n}\nstage \"prod\" {\n service \"api\"\n}\n",
		"svc/Dockerfile":     "FROM scratch\nCOPY app /app\n",
		"svc/app":            "x",
		"unrelated/file.txt": "y",
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	run("add", ".")
	run("commit", "-qm", "init")
	run("remote", "add", "origin", "git@github.com:org/p.git")
	head := run("rev-parse", "HEAD")

	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, WorkDir: dir}
	if code := Run(context.Background(), env, []string{"build", "--source", "git", "--tag", "v1", "-o", "yaml", "prod"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	ib := &buildv1.ImageBuild{}
	if err := yaml.UnmarshalStrict(stdout.Bytes(), ib); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	g := ib.Spec.Source.Git
	if g == nil || g.URL != "https://github.com/org/p.git" || g.Revision != head || g.SubPath != "svc" || ib.Spec.Dockerfile != "Dockerfile" {
		t.Errorf("git source %+v, dockerfile %q; want the https remote, HEAD %s, subPath svc, Dockerfile", g, ib.Spec.Dockerfile, head)
	}
	if ib.Spec.Source.Bundle != nil || ib.Spec.Push {
		t.Errorf("spec %+v: want no bundle and push false without --push", ib.Spec)
	}
}
