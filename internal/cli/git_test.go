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

// gitCheckout makes a FleetFlow project in a fresh Git checkout whose origin is remote, with one
// commit on branch main, and returns its directory and a git runner. Git's user and system
// configuration are shut out, so that no credential helper of this machine takes part.
func gitCheckout(t *testing.T, remote string) (string, func(args ...string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	dir := t.TempDir()
	files := map[string]string{
		"fleet.kdl":      "project \"p\"\nregistry \"ghcr.io/org\"\nservice \"api\" {\n context \"svc\"\n dockerfile \"svc/Dockerfile\"\n}\nstage \"prod\" {\n service \"api\"\n}\n",
		"svc/Dockerfile": "FROM scratch\nCOPY app /app\n",
		"svc/app":        "x",
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
	run("init", "-q", "-b", "main")
	run("add", ".")
	run("commit", "-qm", "init")
	run("remote", "add", "origin", remote)
	return dir, run
}

func renderGit(t *testing.T, dir string, args ...string) (*buildv1.ImageBuild, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return map[string]string{"LC_ALL": "en_US.UTF-8"}[k] }, WorkDir: dir}
	code := Run(context.Background(), env, append([]string{"build", "--source", "git", "--tag", "v1", "-o", "yaml"}, append(args, "prod")...))
	if code != 0 {
		return nil, stderr.String(), code
	}
	ib := &buildv1.ImageBuild{}
	if err := yaml.UnmarshalStrict(stdout.Bytes(), ib); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	return ib, stderr.String(), code
}

// A rendered manifest pins the commit and names the branch or tag it came from, so that a stock
// Git server (which sends no commit by SHA alone) can serve it; SSH remotes say they became https.
func TestRenderGitRef(t *testing.T) {
	dir, run := gitCheckout(t, "git@git.example.com:org/p.git")
	head := run("rev-parse", "HEAD")

	ib, stderr, code := renderGit(t, dir, "--git-secret", "git-cred")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	g := ib.Spec.Source.Git
	if g.URL != "https://git.example.com/org/p.git" || g.Revision != head || g.Ref != "refs/heads/main" || g.SecretRef == nil || g.SecretRef.Name != "git-cred" {
		t.Errorf("git source %+v, want https URL, HEAD, refs/heads/main, secretRef git-cred", g)
	}
	for _, want := range []string{"the remote origin of", "git@git.example.com:org/p.git", "clones it over https, as https://git.example.com/org/p.git", "is on no remote-tracking branch"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if errs := ib.Spec.Validate(); len(errs) > 0 {
		t.Errorf("rendered spec fails validation: %v", errs)
	}

	// Tracking origin/release under another local name: the remote's branch name is what counts.
	run("update-ref", "refs/remotes/origin/release", head)
	run("checkout", "-q", "-b", "local-name", "--track", "origin/release")
	if ib, stderr, _ = renderGit(t, dir); ib == nil || ib.Spec.Source.Git.Ref != "refs/heads/release" {
		t.Errorf("tracking origin/release: %+v\n%s", ib, stderr)
	}
	if strings.Contains(stderr, "remote-tracking branch") {
		t.Errorf("commit on origin/release reported as unpushed:\n%s", stderr)
	}

	// Detached at a tag: the tag. Detached elsewhere: the commit alone, with a note saying why.
	run("tag", "v1.0.0")
	run("checkout", "-q", "--detach", head)
	if ib, stderr, _ = renderGit(t, dir); ib == nil || ib.Spec.Source.Git.Ref != "refs/tags/v1.0.0" {
		t.Errorf("detached at v1.0.0: %+v\n%s", ib, stderr)
	}
	run("tag", "-d", "v1.0.0")
	ib, stderr, _ = renderGit(t, dir)
	if ib == nil || ib.Spec.Source.Git.Ref != "" || !strings.Contains(stderr, "is on no branch and no tag points at it") {
		t.Errorf("detached: %+v\n%s", ib, stderr)
	}
}

func TestRenderGitRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		remote string
		args   []string
		code   int
		says   string
	}{
		"local path remote": {"/srv/git/p.git", nil, 1, `cannot turn the remote "/srv/git/p.git" into an https URL`},
		"git protocol":      {"git://git.example.com/p.git", nil, 1, "into an https URL"},
		"forward with -o":   {"https://git.example.com/p.git", []string{"--git-credentials=forward"}, 2, "name it with --git-secret"},
		"both":              {"https://git.example.com/p.git", []string{"--git-credentials=forward", "--git-secret", "x"}, 2, "not both"},
		"bad mode":          {"https://git.example.com/p.git", []string{"--git-credentials=always"}, 2, "use forward or none"},
	} {
		t.Run(name, func(t *testing.T) {
			dir, _ := gitCheckout(t, tc.remote)
			t.Setenv("LANG", "C")
			var stdout, stderr bytes.Buffer
			env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
				if k == "LC_ALL" {
					return "en_US.UTF-8"
				}
				return ""
			}, WorkDir: dir}
			code := Run(context.Background(), env, append([]string{"build", "--source", "git", "--tag", "v1", "-o", "yaml"}, append(tc.args, "prod")...))
			if code != tc.code || !strings.Contains(stderr.String(), tc.says) || stdout.Len() > 0 {
				t.Errorf("exit %d (want %d), stdout %q, stderr:\n%s\nwant %q", code, tc.code, stdout.String(), stderr.String(), tc.says)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return map[string]string{"LC_ALL": "en_US.UTF-8"}[k] }, WorkDir: t.TempDir()}
	if code := Run(context.Background(), env, []string{"build", "--git-secret", "x", "prod"}); code != 2 || !strings.Contains(stderr.String(), "are for --source git") {
		t.Errorf("--git-secret without --source git: exit %d\n%s", code, stderr.String())
	}
}

// --git-credentials=forward asks git, never a terminal: a stored credential is found, none is a
// clear error naming the host.
func TestCredentialFill(t *testing.T) {
	dir, run := gitCheckout(t, "https://git.example.com/org/p.git")
	if _, err := credentialFill(context.Background(), dir, "https://git.example.com/org/p.git"); err == nil ||
		!strings.Contains(err.Error(), "git has no stored credentials for git.example.com") {
		t.Errorf("no helper: %v", err)
	}
	run("config", "credential.helper", "!f() { test \"$1\" = get && printf 'username=ci-bot\\npassword=Tok3n-Canary\\n'; }; f")
	c, err := credentialFill(context.Background(), dir, "https://git.example.com/org/p.git")
	if err != nil || c.username != "ci-bot" || c.password != "Tok3n-Canary" {
		t.Errorf("helper: %+v, %v", c, err)
	}
}
