package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/scheme"
	"github.com/fleetflow/flow-build/internal/testing/envtestutil"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// The CLI against a real API server and a real registry with TLS and htpasswd. The tests play the
// controller's part by writing ImageBuild status, the way the operator would.

var (
	restCfg *rest.Config
	k8s     client.WithWatch
	// testEnvironment is the envtest control plane, for tests that add users with their own
	// permissions.
	testEnvironment *envtest.Environment
)

func TestMain(m *testing.M) {
	env, cfg, ok := envtestutil.Start(m)
	if !ok {
		os.Exit(m.Run())
	}
	restCfg, testEnvironment = cfg, env
	var err error
	if k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

const (
	registryUser = "ci-bot"
	canary       = "Canary-Secret-9d41c"
)

type fixture struct {
	t   *testing.T
	reg *registrytest.Registry
	ns  string
	env map[string]string
	// logs serves the build pods' logs (envtest has no kubelet); nil asks the API server, which
	// answers for pods/log what RBAC allows, and an empty log for pods on no node.
	logs logSource
	// restCfg connects as someone else than the test's administrator, when set.
	restCfg *rest.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if restCfg == nil {
		t.Skip("integration test: needs KUBEBUILDER_ASSETS (make test-integration)")
	}
	// Nothing on this machine may lend credentials to the test: an empty Docker config.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := registrytest.New(t, registryUser, canary)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "flow-cli-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return &fixture{t: t, reg: reg, ns: ns.Name, env: map[string]string{
		"FLOW_REGISTRY":   reg.Host + "/shop",
		"DOCKER_USERNAME": registryUser,
		"DOCKER_PASSWORD": canary,
		"LANG":            "C.UTF-8",
	}}
}

// cliEnv is the CLI's environment in the example project, talking to this fixture's registry and API server.
func (f *fixture) cliEnv(stdout, stderr *bytes.Buffer) Env {
	return Env{
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
		Getenv:     func(k string) string { return f.env[k] },
		WorkDir:    filepath.Join(envtestutil.RepoRoot(), "examples", "shop"),
		Transport:  f.reg.Transport(),
		RESTConfig: cmp.Or(f.restCfg, restCfg),
		logs:       f.logs,
	}
}

// flow runs the CLI in the example project and returns its exit code and output.
func (f *fixture) flow(args ...string) (int, string, string) {
	f.t.Helper()
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, env, append(args, "--namespace", f.ns))
	return code, stdout.String(), stderr.String()
}

// controller plays the operator: every new ImageBuild goes Building, then ends as finish says.
func (f *fixture) controller(finish func(ib *buildv1.ImageBuild)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := k8s.Watch(ctx, &buildv1.ImageBuildList{}, client.InNamespace(f.ns))
	if err != nil {
		f.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			ib, ok := ev.Object.(*buildv1.ImageBuild)
			if !ok || ev.Type != watch.Added {
				continue
			}
			ib.Status.ObservedGeneration = ib.Generation
			ib.Status.Phase = buildv1.PhaseBuilding
			ib.Status.PodName = ib.Name + "-g1-1"
			f.createPod(ib.Status.PodName)
			setReady(ib, metav1.ConditionFalse, buildv1.ReasonBuilding, "building")
			if err := k8s.Status().Update(ctx, ib); err != nil {
				continue
			}
			time.Sleep(50 * time.Millisecond)
			finish(ib)
			_ = k8s.Status().Update(ctx, ib)
		}
	}()
	return func() { cancel(); w.Stop(); <-done }
}

// createPod stores a build pod as the operator would create it. envtest runs no kubelet: the pod
// never runs, and its log comes from the test's logSource.
func (f *fixture) createPod(name string) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "kaniko", Image: "kaniko"}}},
	}
	if err := k8s.Create(context.Background(), pod); err != nil && !apierrors.IsAlreadyExists(err) {
		f.t.Errorf("creating pod %s: %v", name, err)
	}
}

func succeed(ib *buildv1.ImageBuild) {
	digest := fakeDigest(ib.Spec.Image)
	ib.Status.Phase = buildv1.PhaseSucceeded
	ib.Status.Output = &buildv1.BuildOutput{
		Image: ib.Spec.Image + ":" + ib.Spec.Tags[0], Digest: digest, ShortDigest: digest[7:19],
		ImageRef: ib.Spec.Image + "@" + digest, Tags: ib.Spec.Tags,
	}
	setReady(ib, metav1.ConditionTrue, buildv1.ReasonSucceeded, "pushed")
}

func fakeDigest(s string) string {
	b := make([]byte, 32)
	copy(b, s)
	return fmt.Sprintf("sha256:%x", b)
}

func setReady(ib *buildv1.ImageBuild, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&ib.Status.Conditions, metav1.Condition{
		Type: buildv1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: ib.Generation,
	})
}

func (f *fixture) builds() []buildv1.ImageBuild {
	f.t.Helper()
	list := &buildv1.ImageBuildList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	return list.Items
}

// secretsAsCreated watches the fixture's namespace and returns a function giving every Secret as
// it was when it first appeared.
func (f *fixture) secretsAsCreated() func() []corev1.Secret {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := k8s.Watch(ctx, &corev1.SecretList{}, client.InNamespace(f.ns))
	if err != nil {
		f.t.Fatal(err)
	}
	var added []corev1.Secret
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*corev1.Secret); ok && ev.Type == watch.Added {
				added = append(added, *s)
			}
		}
	}()
	f.t.Cleanup(cancel)
	return func() []corev1.Secret {
		// Let the watch deliver what the API server has already sent, then stop it.
		time.Sleep(200 * time.Millisecond)
		cancel()
		<-done
		return added
	}
}

func TestIntegration_BuildPushCreatesBuildsAndPrintsSpecOutput(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(succeed)
	defer stop()
	secrets := f.secretsAsCreated()

	code, stdout, stderr := f.flow("build", "--push", "--tag", "v1.2.0", "prod")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// No moment without an owner: every forwarded Secret already had its build as owner when it
	// appeared, so a flow killed at any point leaves no credentials behind that nothing deletes.
	created := secrets()
	if len(created) != 3 {
		t.Errorf("%d Secrets created, want one per build", len(created))
	}
	for _, s := range created {
		if ref := metav1.GetControllerOf(&s); ref == nil || ref.Kind != "ImageBuild" {
			t.Errorf("Secret %s appeared without its owning ImageBuild: owners %v", s.Name, s.OwnerReferences)
		}
	}
	host := f.reg.Host
	for _, want := range []string{
		"Building api...\n  → Dockerfile: ./services/api/Dockerfile\n  → Context: .\n  → Target: production\n",
		"Building worker...\n  → Dockerfile: ./services/worker/Dockerfile\n  → Context: ./services/worker\n",
		"Pushing api...\n",
		fmt.Sprintf("✓ api: %s/shop/shop-api:v1.2.0 (%s)", host, fakeDigest(host+"/shop/shop-api")),
		fmt.Sprintf("✓ worker: %s/shop/shop-worker:v1.2.0 (%s)", host, fakeDigest(host+"/shop/shop-worker")),
		fmt.Sprintf("✓ web: %s/shop/shop-web:v1.2.0", host),
		"- db: skipped",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.ContainsAny(stdout+stderr, "\x1b\r") {
		t.Errorf("plain output contains control codes:\n%q", stdout)
	}
	if strings.Contains(stdout+stderr, canary) || strings.Contains(stdout+stderr, base64.StdEncoding.EncodeToString([]byte(registryUser+":"+canary))) {
		t.Error("the registry password appears in the output")
	}

	builds := f.builds()
	if len(builds) != 3 {
		t.Fatalf("%d ImageBuilds, want 3 (api, worker, web)", len(builds))
	}
	for _, ib := range builds {
		svc := ib.Labels[buildv1.LabelService]
		if ib.Labels[buildv1.LabelProject] != "shop" || ib.Labels[buildv1.LabelStage] != "prod" || svc == "" {
			t.Errorf("%s labels %v", ib.Name, ib.Labels)
		}
		if ib.Spec.Image != host+"/shop/shop-"+svc || ib.Spec.Tags[0] != "v1.2.0" || !ib.Spec.Push {
			t.Errorf("%s spec image %s tags %v push %v", ib.Name, ib.Spec.Image, ib.Spec.Tags, ib.Spec.Push)
		}
		if b := ib.Spec.Source.Bundle; b == nil || !regexp.MustCompile(`^`+regexp.QuoteMeta(ib.Spec.Image)+`@sha256:[0-9a-f]{64}$`).MatchString(b.Image) {
			t.Errorf("%s source %+v is not a bundle in the image's repository by digest", ib.Name, ib.Spec.Source)
		}
		if svc == "api" && (ib.Spec.Target != "production" || ib.Spec.Dockerfile != "services/api/Dockerfile" || !hasArg(ib, "APP_VERSION", "1.2.0")) {
			t.Errorf("api spec: target %q dockerfile %q args %v", ib.Spec.Target, ib.Spec.Dockerfile, ib.Spec.BuildArgs)
		}
		if svc == "worker" && (ib.Spec.Dockerfile != "Dockerfile" || !hasArg(ib, "LOG_LEVEL", "info")) {
			t.Errorf("worker spec: dockerfile %q args %v", ib.Spec.Dockerfile, ib.Spec.BuildArgs)
		}
		f.checkForwardedSecret(&ib)
	}
}

// Every --tag names the one image: all of them go into spec.tags (the primary first, repeats
// dropped), under Pushing and onto the closing line with the digest they share.
func TestIntegration_SeveralTags(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(succeed)
	defer stop()
	code, stdout, stderr := f.flow("build", "--push", "--tag", "v1.2.0", "--tag", "latest", "--tag", "v1.2.0", "-n", "api", "prod")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	builds := f.builds()
	if len(builds) != 1 || !slices.Equal(builds[0].Spec.Tags, []string{"v1.2.0", "latest"}) {
		t.Fatalf("builds %d, tags %v; want one build tagged [v1.2.0 latest]", len(builds), builds[0].Spec.Tags)
	}
	repo := f.reg.Host + "/shop/shop-api"
	for _, want := range []string{
		"Pushing api...\n  → " + repo + ":v1.2.0\n  → " + repo + ":latest\n",
		fmt.Sprintf("✓ api: %s:v1.2.0, %s:latest (%s)", repo, repo, fakeDigest(repo)),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

// --platform, comma list or repeated (FleetFlow's single-valued form included), becomes
// spec.platforms; each platform gets its line under Building and the closing line names them.
func TestIntegration_Platforms(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(func(ib *buildv1.ImageBuild) {
		for _, p := range ib.Spec.Platforms {
			ib.Status.Platforms = append(ib.Status.Platforms, buildv1.PlatformStatus{Platform: p, Phase: buildv1.PhaseSucceeded, Message: "pushed", Emulated: p == "linux/arm64"})
		}
		succeed(ib)
		ib.Status.Output.Platforms = ib.Spec.Platforms
	})
	defer stop()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--platform", "linux/amd64,linux/arm64"}, []string{"linux/amd64", "linux/arm64"}},
		{[]string{"--platform", "linux/amd64", "--platform", "linux/arm/v7"}, []string{"linux/amd64", "linux/arm/v7"}},
		{[]string{"--platform", "linux/arm64"}, []string{"linux/arm64"}},
	} {
		code, stdout, stderr := f.flow(append(append([]string{"build", "--push", "--tag", "mp"}, tc.args...), "-n", "api", "prod")...)
		if code != 0 {
			t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, stdout, stderr)
		}
		var ib *buildv1.ImageBuild
		for _, b := range f.builds() {
			if slices.Equal(b.Spec.Platforms, tc.want) {
				ib = &b
			}
		}
		if ib == nil {
			t.Fatalf("%v: no ImageBuild with spec.platforms %v", tc.args, tc.want)
		}
		repo := f.reg.Host + "/shop/shop-api"
		wantLines := []string{fmt.Sprintf("✓ api: %s:mp (%s for %s)", repo, fakeDigest(repo), strings.Join(tc.want, ", "))}
		for _, p := range tc.want {
			wantLines = append(wantLines, p+" ")
		}
		for _, w := range wantLines {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, stdout)
			}
		}
		if emulated := slices.Contains(tc.want, "linux/arm64"); emulated != strings.Contains(stderr, "api の linux/arm64 はエミュレーションでビルドされます") {
			t.Errorf("%v: the emulation note is wrong:\n%s", tc.args, stderr)
		}
	}
	code, _, stderr := f.flow("build", "--push", "--platform", "linux/amd64,linux/aarch64", "prod")
	if code != ExitUsage || !strings.Contains(stderr, "linux/arm64 の間違いではありませんか") {
		t.Errorf("a platform in uname's spelling: exit %d\n%s", code, stderr)
	}
}

func hasArg(ib buildv1.ImageBuild, name, value string) bool {
	for _, a := range ib.Spec.BuildArgs {
		if a.Name == name && a.Value == value {
			return true
		}
	}
	return false
}

// checkForwardedSecret asserts the build's push Secret holds the local credentials for its registry
// only, and is owned by the build and marked for deletion when it finishes.
func (f *fixture) checkForwardedSecret(ib *buildv1.ImageBuild) {
	f.t.Helper()
	if ib.Spec.PushSecretRef == nil {
		f.t.Errorf("%s has no push Secret", ib.Name)
		return
	}
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: ib.Spec.PushSecretRef.Name}, s); err != nil {
		f.t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson || s.Annotations[buildv1.AnnotationEphemeralSecret] != "true" || !metav1.IsControlledBy(s, ib) {
		f.t.Errorf("Secret %s: type %s annotations %v owners %v", s.Name, s.Type, s.Annotations, s.OwnerReferences)
	}
	if ib.Annotations[buildv1.AnnotationForwardedPushSecret] != "true" {
		f.t.Errorf("%s does not say that its push Secret is forwarded: annotations %v", ib.Name, ib.Annotations)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
		f.t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + canary))
	if len(cfg.Auths) != 1 || cfg.Auths[f.reg.Host].Auth != want {
		f.t.Errorf("forwarded docker config has %d registries, want exactly %s with the local credentials", len(cfg.Auths), f.reg.Host)
	}
}

func TestIntegration_ReRunUploadsNoContextBytes(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(succeed)
	defer stop()
	if code, out, errOut := f.flow("build", "--push", "web", "prod"); code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out, errOut)
	}
	first := f.reg.UploadedBytes()
	code, _, stderr := f.flow("build", "--push", "web", "prod")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	if sent := f.reg.UploadedBytes() - first; sent != 0 {
		t.Errorf("the unchanged re-run uploaded %d bytes, want 0", sent)
	}
	if !strings.Contains(stderr, "レジストリにあり、送信なし") {
		t.Errorf("the re-run does not say nothing was sent:\n%s", stderr)
	}
}

func TestIntegration_FailedBuildExitsNonZero(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(func(ib *buildv1.ImageBuild) {
		if ib.Labels[buildv1.LabelService] == "web" {
			ib.Status.Phase = buildv1.PhaseFailed
			setReady(ib, metav1.ConditionFalse, buildv1.ReasonBuildFailed, "RUN false failed: exit status 1")
			return
		}
		succeed(ib)
	})
	defer stop()
	code, stdout, _ := f.flow("build", "--push", "-n", "web", "-n", "worker", "prod")
	if code != ExitFailed {
		t.Errorf("exit %d, want %d", code, ExitFailed)
	}
	if !strings.Contains(stdout, "✗ web:") || !strings.Contains(stdout, "BuildFailed: RUN false failed") || !strings.Contains(stdout, "✓ worker:") {
		t.Errorf("output does not show one failure and one success:\n%s", stdout)
	}
}

func TestIntegration_WrongPasswordStopsBeforeAnything(t *testing.T) {
	for _, tc := range []struct{ lang, headline, remedy string }{
		{"C.UTF-8", "エラー: レジストリへの認証に失敗しました", "を実行してください"},
		{"ja_JP.UTF-8", "エラー: レジストリへの認証に失敗しました", "を実行してください"},
		{"en_US.UTF-8", "Error: authentication to the registry failed", "docker login"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			f := newFixture(t)
			f.env["DOCKER_PASSWORD"] = "wrong-" + canary
			f.env["LANG"] = tc.lang
			code, stdout, stderr := f.flow("build", "--push", "--tag", "v1", "prod")
			if code != ExitFailed {
				t.Errorf("exit %d, want %d", code, ExitFailed)
			}
			if !strings.Contains(stderr, tc.headline) || !strings.Contains(stderr, tc.remedy) || !strings.Contains(stderr, f.reg.Host) {
				t.Errorf("stderr lacks the authentication error (%q, %q):\n%s", tc.headline, tc.remedy, stderr)
			}
			if strings.Contains(stdout+stderr, canary) {
				t.Error("the password appears in the output")
			}
			if n := len(f.builds()); n != 0 || f.reg.UploadedBytes() != 0 {
				t.Errorf("after a failed preflight: %d ImageBuilds, %d bytes uploaded; want none", n, f.reg.UploadedBytes())
			}
		})
	}
}

func TestIntegration_BadInputCreatesNothing(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"invalid tag", []string{"build", "--push", "--tag", "feature/x", "prod"}, "エラー: タグに使用できない文字が含まれています"},
		{"one good and two invalid tags", []string{"build", "--push", "--tag", "v1", "--tag", "a b", "--tag", "-rc1", "prod"}, `タグ "a b" の " " は使用できません`},
		{"the other invalid tag is reported too", []string{"build", "--push", "--tag", "v1", "--tag", "a b", "--tag", "-rc1", "prod"}, `タグの先頭に "-" は使用できません`},
		{"unknown stage", []string{"build", "--push", "staging"}, "エラー: ステージ 'staging' が見つかりません"},
		{"unknown service", []string{"build", "--push", "-n", "nope", "prod"}, "エラー: サービス 'nope' はステージ 'prod' に含まれていません。"},
		{"no registry", nil, "エラー: イメージ名にレジストリが含まれていません"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				delete(f.env, "FLOW_REGISTRY")
				defer func() { f.env["FLOW_REGISTRY"] = f.reg.Host + "/shop" }()
				// Without FLOW_REGISTRY the example falls back to a public registry; --registry "" cannot
				// unset it, so use a config without one.
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "fleet.kdl"), "project \"p\"\nservice \"api\" {\n dockerfile \"Dockerfile\"\n}\nstage \"prod\" {\n service \"api\"\n}\n")
				writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
				args = []string{"build", "--push", "-f", filepath.Join(dir, "fleet.kdl"), "prod"}
			}
			code, stdout, stderr := f.flow(args...)
			if code == 0 {
				t.Fatalf("exit 0 for bad input\n%s", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
	if n := len(f.builds()); n != 0 || f.reg.UploadedBytes() != 0 {
		t.Errorf("after bad input: %d ImageBuilds, %d bytes uploaded; want none", n, f.reg.UploadedBytes())
	}
}

func TestIntegration_RenderedManifestsPassServerSideDryRun(t *testing.T) {
	f := newFixture(t)
	code, stdout, stderr := f.flow("build", "--push", "--tag", "v2", "-o", "yaml", "prod")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	docs := strings.Split(stdout, "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3:\n%s", len(docs), stdout)
	}
	for _, doc := range docs {
		ib := &buildv1.ImageBuild{}
		if err := yaml.UnmarshalStrict([]byte(doc), ib); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, doc)
		}
		if ib.Name == "" || ib.GenerateName != "" || ib.Spec.PushSecretRef != nil {
			t.Errorf("rendered %q: want a stable name and no forwarded Secret", ib.Name)
		}
		ib.Namespace = f.ns
		if err := k8s.Create(context.Background(), ib, client.DryRunAll); err != nil {
			t.Errorf("the API server rejects the rendered %s: %v", ib.Name, err)
		}
	}
	if n := len(f.builds()); n != 0 {
		t.Errorf("-o yaml created %d ImageBuilds, want none", n)
	}
	if strings.Contains(stdout, canary) {
		t.Error("the password appears in the rendered manifests")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hasManifest reports whether the fixture's registry serves ref.
func (f *fixture) hasManifest(ref string) bool {
	r, err := name.ParseReference(ref)
	if err != nil {
		f.t.Error(err)
		return false
	}
	_, err = remote.Head(r, remote.WithTransport(f.reg.Transport()), remote.WithAuth(&authn.Basic{Username: registryUser, Password: canary}))
	return err == nil
}

func TestIntegration_InterruptLeavesBuildsRunning(t *testing.T) {
	f := newFixture(t)
	// No controller: the builds stay pending until flow is interrupted.
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Interrupt once the builds exist and their bundle is uploaded (small bundles upload while
		// the builds are created), as a person pressing Ctrl-C would while flow watches them.
		for ctx.Err() == nil {
			if b := f.builds(); len(b) == 1 && b[0].Spec.Source.Bundle != nil && f.hasManifest(b[0].Spec.Source.Bundle.Image) {
				time.Sleep(200 * time.Millisecond)
				cancel()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	code := Run(ctx, env, []string{"build", "--push", "-n", "web", "prod", "--namespace", f.ns})
	cancel()
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitInterrupted, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "ビルドはクラスターで続行されます") || !strings.Contains(stderr.String(), "kubectl get imagebuilds -n "+f.ns+" -l "+buildv1.LabelRun+"=") {
		t.Errorf("stderr does not say how to follow the builds:\n%s", stderr.String())
	}
	if n := len(f.builds()); n != 1 {
		t.Errorf("%d ImageBuilds after the interrupt, want the 1 created, left running", n)
	}
}

func TestIntegration_InterruptBeforeTheBuildsLeavesNothing(t *testing.T) {
	f := newFixture(t)
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before flow reached the cluster: the checks and the upload fail with it.
	code := Run(ctx, env, []string{"build", "--push", "-n", "web", "prod", "--namespace", f.ns})
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitInterrupted, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "中断しました") || strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("stderr does not say the run was interrupted, or shows the cancellation as an error:\n%s", stderr.String())
	}
	if n := len(f.builds()); n != 0 {
		t.Errorf("%d ImageBuilds after an interrupt before any build, want 0", n)
	}
}

func TestIntegration_WithoutPushBuildsOnly(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(succeed)
	defer stop()
	code, stdout, stderr := f.flow("build", "-n", "web", "prod")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout, "Pushing") || !strings.Contains(stdout, "built, not pushed") {
		t.Errorf("a build without --push claims a push or does not say it was not pushed:\n%s", stdout)
	}
	if b := f.builds(); len(b) != 1 || b[0].Spec.Push {
		t.Errorf("want one ImageBuild with push false, got %d", len(b))
	}
}

func TestIntegration_VerboseNeverPrintsCredentials(t *testing.T) {
	f := newFixture(t)
	stop := f.controller(succeed)
	defer stop()
	code, stdout, stderr := f.flow("build", "--push", "-v", "-n", "api", "prod")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"flow: config files: ", "flow: api: image ", "registry: --> ", "flow: created ImageBuild "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v output lacks %q:\n%s", want, stderr)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + canary))
	if all := stdout + stderr; strings.Contains(all, canary) || strings.Contains(all, basic) {
		t.Error("-v printed the registry password")
	}
}

// A service the operator found up to date ends with its ✓ line, the reused digest and "(up to
// date)" in the user's language, and no Pushing block.
func TestIntegration_BuildPrintsUpToDate(t *testing.T) {
	for _, tt := range []struct{ lang, note string }{
		{"C.UTF-8", "(最新のため再ビルド不要)"},
		{"en_US.UTF-8", "(up to date)"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			f := newFixture(t)
			f.env["LANG"] = tt.lang
			stop := f.controller(func(ib *buildv1.ImageBuild) {
				succeed(ib)
				if ib.Labels[buildv1.LabelService] == "api" {
					ib.Status.PodName = ""
					setReady(ib, metav1.ConditionTrue, buildv1.ReasonUpToDate, "up to date")
				}
			})
			defer stop()
			code, stdout, stderr := f.flow("build", "--push", "--tag", "v1.2.0", "prod")
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			host := f.reg.Host
			for _, want := range []string{
				fmt.Sprintf("✓ api: %s/shop/shop-api:v1.2.0 (%s) %s\n", host, fakeDigest(host+"/shop/shop-api"), tt.note),
				fmt.Sprintf("✓ worker: %s/shop/shop-worker:v1.2.0 (%s)\n", host, fakeDigest(host+"/shop/shop-worker")),
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, "Pushing api...") {
				t.Errorf("an up-to-date service shows a Pushing block:\n%s", stdout)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The cluster's dry run and the registry's push check are independent round trips: the CLI makes
// them at the same time instead of one after the other. The dry run is held here until the
// registry has been asked something; run in sequence, the registry would only hear from the CLI
// after the dry run.
func TestIntegration_ClusterAndRegistryChecksOverlap(t *testing.T) {
	f := newFixture(t)
	registryAsked := make(chan struct{})
	var once sync.Once
	reg := f.reg.Transport()
	var overlapped atomic.Bool
	cfg := rest.CopyConfig(restCfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("dryRun") != "" {
				select {
				case <-registryAsked:
					overlapped.Store(true)
				case <-time.After(5 * time.Second):
				}
			}
			return rt.RoundTrip(r)
		})
	}
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	env.RESTConfig = cfg
	env.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		once.Do(func() { close(registryAsked) })
		return reg.RoundTrip(r)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := Run(ctx, env, []string{"build", "--push", "--tag", "v1", "--no-wait", "--namespace", f.ns, "prod"}); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	if !overlapped.Load() {
		t.Error("the registry heard nothing from the CLI while the cluster's dry run was under way: the checks ran one after the other")
	}
	if n := len(f.builds()); n == 0 {
		t.Error("no ImageBuild created")
	}
}

// When the cluster refuses the builds, that is the error reported, whatever the registry says:
// the two checks run together, but the cluster's answer comes first, as it did when they ran in
// sequence.
func TestIntegration_ClusterRefusalWinsOverRegistryFailure(t *testing.T) {
	f := newFixture(t)
	f.env["DOCKER_PASSWORD"] = "wrong-" + canary
	cfg := rest.CopyConfig(restCfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("dryRun") == "" {
				return rt.RoundTrip(r)
			}
			// After the registry has answered, so that its failure is there to be preferred.
			time.Sleep(500 * time.Millisecond)
			body := `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"imagebuilds is forbidden"}`
			return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
	}
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	env.RESTConfig = cfg
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := Run(ctx, env, []string{"build", "--push", "--tag", "v1", "--namespace", f.ns, "prod"}); code == 0 {
		t.Fatal("exit 0")
	}
	if strings.Contains(stderr.String(), "レジストリへの認証に失敗しました") || !strings.Contains(stderr.String(), "ImageBuild を作成する権限がありません") {
		t.Errorf("want the cluster's refusal, not the registry's:\n%s", stderr.String())
	}
}

// overlapUploads turns on creating the ImageBuilds while small bundles upload, for one test.
func overlapUploads() (restore func()) {
	was := earlyCreate
	earlyCreate = EarlyCreateMaxBytes
	return func() { earlyCreate = was }
}

// Small bundles upload while their ImageBuilds are created, so that the cluster starts the build
// pods meanwhile: here the registry holds the bundles' manifests (what an upload writes last)
// until the ImageBuilds exist. Run in sequence, they would be created only after the upload.
func TestIntegration_BuildsCreatedWhileUploading(t *testing.T) {
	defer overlapUploads()()
	f := newFixture(t)
	reg := f.reg.Transport()
	var createdFirst atomic.Bool
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	env.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if len(f.builds()) == 3 {
					createdFirst.Store(true)
					break
				}
			}
		}
		return reg.RoundTrip(r)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := Run(ctx, env, []string{"build", "--push", "--tag", "v1", "--no-wait", "--namespace", f.ns, "prod"}); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	if !createdFirst.Load() {
		t.Error("the bundles' manifests were uploaded before the ImageBuilds existed: creating them waited for the upload")
	}
	for _, ib := range f.builds() {
		if !strings.Contains(ib.Spec.Source.Bundle.Image, "@sha256:") {
			t.Errorf("%s: source %s is not pinned by digest", ib.Name, ib.Spec.Source.Bundle.Image)
		}
	}
}

// An upload that fails after its ImageBuilds were created takes them back, with their forwarded
// credentials: nothing is left to wait for a bundle that will not come.
func TestIntegration_FailedUploadDeletesTheBuilds(t *testing.T) {
	defer overlapUploads()()
	f := newFixture(t)
	reg := f.reg.Transport()
	var stdout, stderr bytes.Buffer
	env := f.cliEnv(&stdout, &stderr)
	env.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(f.builds()) < 3; {
				time.Sleep(20 * time.Millisecond)
			}
			body := `{"errors":[{"code":"DENIED","message":"quota exceeded"}]}`
			return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
		return reg.RoundTrip(r)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := Run(ctx, env, []string{"build", "--push", "--tag", "v1", "--namespace", f.ns, "prod"}); code != ExitFailed {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitFailed, stderr.String())
	}
	if !strings.Contains(stderr.String(), "quota exceeded") {
		t.Errorf("stderr does not give the registry's refusal:\n%s", stderr.String())
	}
	var left []string
	for _, ib := range f.builds() {
		if ib.DeletionTimestamp.IsZero() {
			left = append(left, ib.Name)
		}
	}
	secrets := &corev1.SecretList{}
	if err := k8s.List(context.Background(), secrets, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if strings.HasPrefix(s.Name, "flow-push-") && s.DeletionTimestamp.IsZero() {
			left = append(left, "Secret "+s.Name)
		}
	}
	if len(left) > 0 {
		t.Errorf("left behind after the failed upload: %v", left)
	}
}
