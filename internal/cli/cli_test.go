package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/imageref"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

func TestHTTPSRemote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"https://user:token@github.com/org/repo.git", "https://github.com/org/repo.git"},
		{"git@github.com:org/repo.git", "https://github.com/org/repo.git"},
		{"ssh://git@gitlab.example.com:2222/group/repo.git", "https://gitlab.example.com/group/repo.git"},
		{"/srv/git/repo.git", ""},
	} {
		got, err := httpsRemote(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("httpsRemote(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("httpsRemote(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func testTarget() *target {
	return &target{
		build: fleetconfig.Build{
			Service: "api", Target: "production", NoCache: true,
			BuildArgs: []fleetconfig.BuildArg{{Name: "A", Value: "1"}},
		},
		push:       imageref.Target{Repository: "ghcr.io/org/shop-api", Tags: []string{"v1.2.0"}, Registry: "ghcr.io"},
		dockerfile: "services/api/Dockerfile",
		bundleRef:  "ghcr.io/org/shop-api@sha256:" + strings.Repeat("a", 64),
	}
}

func TestImageBuildFromTarget(t *testing.T) {
	p := manifestParams{project: "shop", stage: "prod", namespace: "ci", runID: "r1", push: true, timeout: 10 * time.Minute, ttl: time.Hour}
	ib := imageBuild(testTarget(), p)
	if ib.Name != "" || !strings.HasPrefix(ib.GenerateName, "shop-api-") || ib.Labels[buildv1.LabelRun] != "r1" {
		t.Errorf("CLI-created build: name %q generateName %q labels %v", ib.Name, ib.GenerateName, ib.Labels)
	}
	if ib.Spec.Image != "ghcr.io/org/shop-api" || ib.Spec.Tags[0] != "v1.2.0" || !ib.Spec.Push ||
		ib.Spec.Cache == nil || !ib.Spec.Cache.Disabled || ib.Spec.Timeout.Duration != 10*time.Minute ||
		*ib.Spec.TTLSecondsAfterFinished != 3600 || ib.Spec.Source.Bundle == nil {
		t.Errorf("spec = %+v", ib.Spec)
	}
	for k, v := range map[string]string{buildv1.LabelProject: "shop", buildv1.LabelStage: "prod", buildv1.LabelService: "api"} {
		if ib.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, ib.Labels[k], v)
		}
	}

	p.stableNames = true
	stable := imageBuild(testTarget(), p)
	if stable.Name != "shop-prod-api" || stable.GenerateName != "" || stable.Labels[buildv1.LabelRun] != "" {
		t.Errorf("rendered build: name %q generateName %q run label %q", stable.Name, stable.GenerateName, stable.Labels[buildv1.LabelRun])
	}
}

func TestRenderYAMLAndJSON(t *testing.T) {
	p := manifestParams{project: "shop", stage: "prod", push: true, stableNames: true}
	var y bytes.Buffer
	if err := render(&y, "yaml", []*target{testTarget(), testTarget()}, p); err != nil {
		t.Fatal(err)
	}
	out := y.String()
	if strings.Count(out, "\n---\n") != 1 || strings.Contains(out, "status:") || strings.Contains(out, "creationTimestamp") {
		t.Errorf("yaml output:\n%s", out)
	}
	if !strings.Contains(out, "kind: ImageBuild") || !strings.Contains(out, "apiVersion: build.fleetflow.dev/v1alpha1") {
		t.Errorf("yaml output lacks the type:\n%s", out)
	}
	var j bytes.Buffer
	if err := render(&j, "json", []*target{testTarget()}, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(j.String(), `"kind": "List"`) {
		t.Errorf("json output is not a List:\n%s", j.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := Run(context.Background(), Env{Stdout: &stdout, Stderr: &stdout, Getenv: func(string) string { return "" }}, []string{"version"}); code != 0 || !strings.HasPrefix(stdout.String(), "flow ") {
		t.Errorf("flow version: exit %d output %q", code, stdout.String())
	}
}

// Every problem found in the plan is reported, each as a block of its own, through the one error
// path, and the run fails (exit 1) before anything is contacted.
func TestSeveralProblemsReportedAtOnce(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"fleet.kdl":  "project \"p\"\nservice \"api\" {\n dockerfile \"Dockerfile\"\n}\nservice \"web\" {\n dockerfile \"Dockerfile\"\n}\nstage \"prod\" {\n service \"api\"\n service \"web\"\n}\n",
		"Dockerfile": "FROM scratch\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return map[string]string{"LANG": "C.UTF-8"}[k] }, WorkDir: dir}
	code := Run(context.Background(), env, []string{"build", "--push", "prod"})
	if code != ExitFailed {
		t.Errorf("exit %d, want %d", code, ExitFailed)
	}
	out := stderr.String()
	// C.UTF-8, the locale of CI runners, gets the product's Japanese.
	if n := strings.Count(out, "エラー: イメージ名にレジストリが含まれていません"); n != 2 {
		t.Errorf("%d error blocks, want one per service:\n%s", n, out)
	}
	for _, svc := range []string{"対象: api\n", "対象: web\n"} {
		if !strings.Contains(out, svc) {
			t.Errorf("the errors do not name %s:\n%s", svc, out)
		}
	}
}

func TestParallel(t *testing.T) {
	boom := errors.New("boom")
	var mu sync.Mutex
	running, most, started := 0, 0, 0
	items := make([]int, 40)
	for i := range items {
		items[i] = i
	}
	err := parallel(context.Background(), items, func(ctx context.Context, i int) error {
		mu.Lock()
		running++
		started++
		most = max(most, running)
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		if i == 5 {
			return boom
		}
		// The others wait for the failure's cancellation, as an upload would stop.
		select {
		case <-ctx.Done():
			return fmt.Errorf("upload %d: %w", i, ctx.Err())
		case <-time.After(10 * time.Second):
			return nil
		}
	})
	if !errors.Is(err, boom) {
		t.Errorf("parallel returned %v, want the failure that cancelled the rest", err)
	}
	if most > maxParallel {
		t.Errorf("%d calls at once, want at most %d", most, maxParallel)
	}
	if started == len(items) {
		t.Errorf("all %d calls started although the first failure should stop the rest", started)
	}
}

// A context that a build pod would refuse stops the run before any context is sent: every
// context is measured before the first upload, and the error names the limit and .dockerignore.
func TestOversizedContextStopsBeforeAnyUpload(t *testing.T) {
	reg := registrytest.New(t, "ci", "pw")
	dir := t.TempDir()
	deep := filepath.Join(dir, "huge")
	for range 20 {
		deep = filepath.Join(deep, strings.Repeat("d", 200))
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Skipf("this file system cannot hold the 4,000-byte path the test needs: %v", err)
	}
	for name, content := range map[string]string{
		"fleet.kdl":       "project \"p\"\nregistry \"" + reg.Host + "/team\"\nservice \"api\" {\n dockerfile \"api/Dockerfile\"\n context \"api\"\n}\nservice \"huge\" {\n dockerfile \"huge/Dockerfile\"\n context \"huge\"\n}\nstage \"prod\" {\n service \"api\"\n service \"huge\"\n}\n",
		"api/Dockerfile":  "FROM scratch\n",
		"huge/Dockerfile": "FROM scratch\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(deep, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"LANG": "C.UTF-8", "DOCKER_USERNAME": "ci", "DOCKER_PASSWORD": "pw", "DOCKER_CONFIG": t.TempDir()}
	var stdout, stderr bytes.Buffer
	env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }, WorkDir: dir, Transport: reg.Transport()}
	code := Run(context.Background(), env, []string{"build", "--push", "-o", "yaml", "prod"})
	if code != ExitFailed {
		t.Errorf("exit %d, want %d", code, ExitFailed)
	}
	for _, want := range []string{"huge", "longer than 4000 bytes", ".dockerignore"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the error does not mention %q:\n%s", want, stderr.String())
		}
	}
	if n := reg.UploadedBytes(); n != 0 {
		t.Errorf("%d context bytes were uploaded before the oversized context stopped the run", n)
	}
	if stdout.Len() != 0 {
		t.Errorf("manifests were rendered:\n%s", stdout.String())
	}
}

// What the API server would refuse is refused before anything is uploaded or rendered: a rendered
// manifest never holds a build arg name or target the CRD rejects, and the message names the
// service, the value and the rule.
func TestSpecTheAPIServerWouldRefuseStopsBeforeAnything(t *testing.T) {
	tests := []struct {
		name    string
		service string
		want    string
	}{
		{"a build arg name with a dash", "build_args {\n  my-arg \"x\"\n }\n", `build arg name "my-arg" is not an ARG name: letters, digits and '_'`},
		{"a target with a space", "target \"my stage\"\n", `target "my stage" is not a Dockerfile stage name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registrytest.New(t, "ci", "pw")
			dir := t.TempDir()
			for name, content := range map[string]string{
				"fleet.kdl":  "project \"p\"\nregistry \"" + reg.Host + "/team\"\nservice \"api\" {\n dockerfile \"Dockerfile\"\n " + tt.service + "}\nstage \"prod\" {\n service \"api\"\n}\n",
				"Dockerfile": "FROM scratch AS base\nARG my-arg\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			vars := map[string]string{"LANG": "en_US.UTF-8", "DOCKER_USERNAME": "ci", "DOCKER_PASSWORD": "pw", "DOCKER_CONFIG": t.TempDir()}
			var stdout, stderr bytes.Buffer
			env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }, WorkDir: dir, Transport: reg.Transport()}
			code := Run(context.Background(), env, []string{"build", "--push", "-o", "yaml", "prod"})
			if code != ExitFailed {
				t.Errorf("exit %d, want %d", code, ExitFailed)
			}
			for _, want := range []string{"service 'api'", tt.want} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("the error does not mention %q:\n%s", want, stderr.String())
				}
			}
			if n := reg.UploadedBytes(); n != 0 {
				t.Errorf("%d context bytes were uploaded for a build the API server would refuse", n)
			}
			if stdout.Len() != 0 {
				t.Errorf("manifests were rendered:\n%s", stdout.String())
			}
		})
	}
}
