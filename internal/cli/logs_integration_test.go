package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/envtestutil"
)

// The build output on a real API server: flow build's last lines under ✗ and its plain stream,
// flow logs' choice of builds and pods and what it says when a log cannot be read. envtest runs
// no kubelet, so pod logs come from recordedLogs, which serves them only for pods that exist, as
// the API server does; RBAC refusals are the real API server's. Streaming from a real node is
// the end-to-end tier's.

// recordedLogs serves build logs from memory for the pods that exist in the API server. A pod
// without a log yet has a kaniko container that has not started: the API server refuses its log
// with BadRequest until it does.
type recordedLogs struct {
	mu     sync.Mutex
	logs   map[string]string // pod name → log
	opened map[string]int
}

func newRecordedLogs() *recordedLogs {
	return &recordedLogs{logs: map[string]string{}, opened: map[string]int{}}
}

func (r *recordedLogs) set(pod, log string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs[pod] = log
}

func (r *recordedLogs) opens(pod string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opened[pod]
}

func (r *recordedLogs) open(ctx context.Context, namespace, pod string, _ bool, tailLines int64) (io.ReadCloser, error) {
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, &corev1.Pod{}); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened[pod]++
	log, started := r.logs[pod]
	if !started {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: PodInitializing", "kaniko", pod))
	}
	if tailLines > 0 {
		lines := strings.SplitAfter(log, "\n")
		if int64(len(lines)) > tailLines {
			log = strings.Join(lines[int64(len(lines))-tailLines:], "")
		}
	}
	return io.NopCloser(strings.NewReader(log)), nil
}

// failedNpmBuild is the recorded Node build's log cut after its second RUN step printed its
// output (and a credential), ending with the error Kaniko prints when that step fails.
func failedNpmBuild(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "internal", "kanikolog", "testdata", "node-multistage.color.log"))
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Index(string(raw), "tsc -p tsconfig.json")
	return string(raw)[:cut] + "tsc -p tsconfig.json\n" +
		"npm ERR! fetching https://ci-bot:" + canary + "@npm.example.com/x.tgz failed\n" +
		"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2\n"
}

// failWith is a finish for fixture.controller: the build fails as the operator reports a failed
// RUN, with the lines it keeps in the status.
func failWith(tail ...string) func(ib *buildv1.ImageBuild) {
	return func(ib *buildv1.ImageBuild) {
		ib.Status.Phase = buildv1.PhaseFailed
		ib.Status.FailureLog = &buildv1.FailureLog{Pod: ib.Status.PodName, Tail: tail}
		setReady(ib, metav1.ConditionFalse, buildv1.ReasonBuildFailed,
			`Dockerfile step "RUN npm run build" failed with exit status 2 while building x; fix the command (its output: kubectl logs -n ns `+ib.Status.PodName+` -c kaniko)`)
	}
}

const npmExit2 = "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2"

func TestIntegration_FailedBuildShowsTheEndOfItsOutput(t *testing.T) {
	f := newFixture(t)
	logs := newRecordedLogs()
	f.logs = logs
	failed := failWith("kept in the status, not shown while the log can be read")
	stop := f.controller(func(ib *buildv1.ImageBuild) {
		if ib.Labels[buildv1.LabelService] == "web" {
			logs.set(ib.Status.PodName, failedNpmBuild(t))
			failed(ib)
			return
		}
		logs.set(ib.Status.PodName, "")
		succeed(ib)
	})
	defer stop()

	code, stdout, stderr := f.flow("build", "--push", "-n", "web", "-n", "worker", "prod")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitFailed, stdout, stderr)
	}
	web := f.buildOf("web")
	want := "✗ web: BuildFailed: Dockerfile step \"RUN npm run build\" failed with exit status 2 while building x; fix the command (its output: kubectl logs -n ns " + web.Status.PodName + " -c kaniko)\n" +
		"  詳細: kubectl describe imagebuild -n " + f.ns + " " + web.Name + "\n" +
		"  [web] RUN npm run build\n" +
		"  [web] > myapp@1.2.0 build\n" +
		"  [web] > tsc -p tsconfig.json\n" +
		"  [web] npm ERR! fetching https://npm.example.com/x.tgz failed\n" +
		"  [web] " + npmExit2 + "\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks the failure with the end of the output:\n%s\n--- want\n%s", stdout, want)
	}
	if strings.Contains(stdout, "[web] added 412 packages") || strings.Contains(stdout, "[worker]") {
		t.Errorf("without --progress plain, the output was streamed:\n%s", stdout)
	}
	if strings.Contains(stdout+stderr, canary) {
		t.Error("the password the build printed reached the terminal")
	}

	// --log-tail, and the stream of every line with --progress plain.
	code, stdout, _ = f.flow("build", "--push", "--progress", "plain", "--log-tail", "2", "-n", "web", "prod")
	if code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"[web] FROM node:20-alpine\n[web] WORKDIR /app\n",
		"[web] COPY package.json package-lock.json ./\n",
		"[web] added 412 packages, and audited 413 packages in 9s\n",
		"[web] > tsc -p tsconfig.json\n[web] npm ERR! fetching https://npm.example.com/x.tgz failed\n[web] " + npmExit2 + "\n",
		"\n  [web] npm ERR! fetching https://npm.example.com/x.tgz failed\n  [web] " + npmExit2 + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--progress plain --log-tail 2: stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "  [web] > tsc -p tsconfig.json") || strings.Contains(stdout, "Taking snapshot") {
		t.Errorf("--log-tail 2 showed more than 2 lines, or Kaniko's own records were streamed:\n%s", stdout)
	}
	if strings.ContainsAny(stdout, "\x1b\r") {
		t.Errorf("plain output has control codes: %q", stdout)
	}

	code, stdout, _ = f.flow("build", "--push", "--log-tail", "0", "-n", "web", "prod")
	if code != ExitFailed || strings.Contains(stdout, "[web]") {
		t.Errorf("--log-tail 0: exit %d, output lines shown:\n%s", code, stdout)
	}
}

// When the pod is gone before flow reads it, the lines the operator kept are shown.
func TestIntegration_FailedBuildWithoutItsPodShowsWhatTheStatusKept(t *testing.T) {
	f := newFixture(t)
	f.logs = newRecordedLogs()
	failed := failWith("RUN npm run build", "marker-kept-in-status", npmExit2)
	stop := f.controller(func(ib *buildv1.ImageBuild) {
		failed(ib)
		if err := k8s.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: ib.Status.PodName}}); err != nil {
			t.Error(err)
		}
	})
	defer stop()
	f.env["LANG"] = "en_US.UTF-8"
	code, stdout, stderr := f.flow("build", "--push", "-n", "web", "prod")
	if code != ExitFailed {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if want := "\n  see: kubectl describe imagebuild -n " + f.ns + " " + f.buildOf("web").Name + "\n  [web] RUN npm run build\n  [web] marker-kept-in-status\n  [web] " + npmExit2 + "\n"; !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks the kept lines %q:\n%s", want, stdout)
	}
}

// A user who may build but not read pod logs is told once, and still sees the kept lines.
func TestIntegration_BuildWithoutPermissionOnPodLogs(t *testing.T) {
	f := newFixture(t)
	// Everything flow build needs, but pods/log.
	f.restCfg = f.userWith(t, "builder-without-logs", withoutPodLogs(t, "imagebuild_editor_role.yaml"))
	stop := f.controller(failWith("RUN npm run build", "marker-kept-in-status", npmExit2))
	defer stop()

	code, stdout, stderr := f.flow("build", "--push", "--progress", "plain", "-n", "web", "-n", "worker", "prod")
	if code != ExitFailed {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stderr, "pods/log の get が禁止されています"); n != 1 {
		t.Errorf("the missing permission is said %d times, want once:\n%s", n, stderr)
	}
	if !strings.Contains(stdout, "  [web] marker-kept-in-status\n") || !strings.Contains(stdout, "  [worker] marker-kept-in-status\n") {
		t.Errorf("the lines kept in the status are not shown:\n%s", stdout)
	}
	if !strings.Contains(stdout, "kubectl logs -n ns ") {
		t.Errorf("the kubectl logs hint of the status message is gone:\n%s", stdout)
	}
}

func TestIntegration_LogsShowsTheLatestBuildOfEachService(t *testing.T) {
	f := newFixture(t)
	logs := newRecordedLogs()
	f.logs = logs
	// Two runs of web: the first one's output must not be shown.
	if code, _, stderr := f.flow("build", "--push", "--no-wait", "-n", "web", "prod"); code != 0 {
		t.Fatalf("first flow build --no-wait: exit %d\n%s", code, stderr)
	}
	old := f.buildOf("web")
	f.setStatus(old, "old-web-pod", succeed)
	logs.set("old-web-pod", "\x1b[36mINFO\x1b[0m[0001] RUN old-output-must-not-show\n")
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second resolution
	code, stdout, stderr := f.flow("build", "--push", "--no-wait", "prod")
	if code != 0 {
		t.Fatalf("flow build --no-wait: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "flow logs -f --namespace "+f.ns+" prod") {
		t.Errorf("--no-wait does not say how to follow the builds:\n%s", stderr)
	}
	_ = stdout
	web, worker, api := f.buildOf("web"), f.buildOf("worker"), f.buildOf("api")
	if web.Name == old.Name {
		t.Fatal("the second run made no new web build")
	}
	f.setStatus(web, web.Name+"-g1-1", failWith("RUN npm run build", npmExit2))
	logs.set(web.Name+"-g1-1", failedNpmBuild(t))
	// worker's pod is gone (its TTL, or by hand): only its status remains.
	f.setStatus(worker, "", failWith("RUN make", "marker-worker-kept", "error building image: exit status 2"))
	worker = f.buildOf("worker")
	worker.Status.PodName = worker.Name + "-g1-1"
	worker.Status.FailureLog.Pod = worker.Status.PodName
	if err := k8s.Status().Update(context.Background(), worker); err != nil {
		t.Fatal(err)
	}
	// api waits for a build slot: no pod yet.
	api.Status.ObservedGeneration, api.Status.Phase = api.Generation, buildv1.PhasePending
	setReady(api, metav1.ConditionFalse, buildv1.ReasonPending, "waiting for a free build slot: 2 builds run at once in this cluster")
	if err := k8s.Status().Update(context.Background(), api); err != nil {
		t.Fatal(err)
	}

	f.env["LANG"] = "en_US.UTF-8"
	code, stdout, stderr = f.flow("logs", "prod")
	if code != 0 {
		t.Fatalf("flow logs: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"==> web: ImageBuild " + web.Name + " (Failed, BuildFailed), pod " + web.Name + "-g1-1\n",
		"==> api: ImageBuild " + api.Name + " (Pending)\n",
		"api: no build pod yet (Pending: waiting for a free build slot: 2 builds run at once in this cluster); flow logs -f waits for it\n",
		"worker: pod " + worker.Name + "-g1-1 of ImageBuild " + worker.Name + " is gone",
		"the ImageBuild's status keeps the result: Failed, BuildFailed: Dockerfile step",
		"worker: the last lines of its output, kept in the ImageBuild's status:\n",
		"kubectl describe imagebuild -n " + f.ns + " " + worker.Name + " shows the same",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, want := range []string{
		"[web] FROM node:20-alpine\n[web] WORKDIR /app\n",
		"[web] > tsc -p tsconfig.json\n[web] npm ERR! fetching https://npm.example.com/x.tgz failed\n[web] " + npmExit2 + "\n",
		"[worker] RUN make\n[worker] marker-worker-kept\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, "old-output-must-not-show") || strings.Contains(stdout+stderr, canary) {
		t.Errorf("an older build's output or a credential was shown:\n%s\n%s", stdout, stderr)
	}
	if strings.Contains(stdout, "==>") || strings.Contains(stderr, "[web]") {
		t.Error("notes and output lines are mixed up: notes belong on stderr, lines on stdout")
	}

	// -n picks services; the Japanese default says the same.
	delete(f.env, "LANG")
	code, stdout, stderr = f.flow("logs", "-n", "web", "prod")
	if code != 0 || strings.Contains(stdout, "[worker]") || !strings.Contains(stdout, "[web] RUN npm run build") || !strings.Contains(stderr, "==> web: ImageBuild "+web.Name+"（Failed, BuildFailed）、pod ") {
		t.Errorf("flow logs -n web: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// A build found up to date ran no pod: flow logs has no output to show and says why, with the
// status message, rather than waiting for a pod or failing.
func TestIntegration_LogsOfAnUpToDateBuild(t *testing.T) {
	f := newFixture(t)
	f.logs = newRecordedLogs()
	if code, _, stderr := f.flow("build", "--push", "--no-wait", "-n", "web", "prod"); code != 0 {
		t.Fatalf("flow build --no-wait: exit %d\n%s", code, stderr)
	}
	web := f.buildOf("web")
	f.setStatus(web, "", func(ib *buildv1.ImageBuild) {
		succeed(ib)
		setReady(ib, metav1.ConditionTrue, buildv1.ReasonUpToDate, "up to date: "+ib.Status.Output.ImageRef+" was built earlier from the same inputs")
	})
	f.env["LANG"] = "en_US.UTF-8"
	for _, args := range [][]string{{"logs", "-n", "web", "prod"}, {"logs", "-f", "-n", "web", "prod"}} {
		code, stdout, stderr := f.flow(args...)
		want := "web: the build ended without a build pod: Succeeded: up to date: " + web.Spec.Image + "@"
		if code != 0 || stdout != "" || !strings.Contains(stderr, want) || strings.Contains(stderr, ", pod ") {
			t.Errorf("flow %s: exit %d, want 0, no output lines and %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
	}
}

func TestIntegration_LogsBadInput(t *testing.T) {
	f := newFixture(t)
	f.logs = newRecordedLogs()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown service", []string{"logs", "-n", "nope", "prod"}, ExitFailed, "サービス 'nope' はステージ 'prod' に含まれていません。"},
		{"unknown stage", []string{"logs", "staging"}, ExitFailed, "ステージ 'staging' が見つかりません"},
		{"stage twice", []string{"logs", "prod", "-s", "dev"}, ExitUsage, "flow logs -n prod dev"},
		{"no builds", []string{"logs", "prod"}, ExitFailed, "ビルドはありません"},
		{"a pulled image", []string{"logs", "-n", "db", "prod"}, 0, "db: ビルドされません"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := f.flow(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr lacks %q:\n%s\n%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

// flow logs -f after flow build --no-wait: it waits for the pods and reads each log to its end.
func TestIntegration_LogsFollowsBuildsToTheirEnd(t *testing.T) {
	f := newFixture(t)
	logs := newRecordedLogs()
	f.logs = logs
	if code, _, stderr := f.flow("build", "--push", "--no-wait", "-n", "web", "-n", "worker", "prod"); code != 0 {
		t.Fatalf("flow build --no-wait: exit %d\n%s", code, stderr)
	}
	web, worker := f.buildOf("web"), f.buildOf("worker")

	done := make(chan struct{})
	var code int
	var stdout, stderr string
	go func() {
		defer close(done)
		code, stdout, stderr = f.flow("logs", "-f", "prod", "-n", "web", "-n", "worker")
	}()
	time.Sleep(500 * time.Millisecond)
	// web: pending, then a pod whose container starts late, then the end.
	f.setStatus(web, "", func(ib *buildv1.ImageBuild) {
		ib.Status.Phase = buildv1.PhasePending
		setReady(ib, metav1.ConditionFalse, buildv1.ReasonPending, "waiting for a free build slot")
	})
	f.setStatus(f.buildOf("web"), web.Name+"-g1-1", func(ib *buildv1.ImageBuild) {
		ib.Status.Phase = buildv1.PhaseBuilding
		setReady(ib, metav1.ConditionFalse, buildv1.ReasonBuilding, "building")
	})
	time.Sleep(700 * time.Millisecond)
	logs.set(web.Name+"-g1-1", failedNpmBuild(t))
	time.Sleep(300 * time.Millisecond)
	f.setStatus(f.buildOf("web"), web.Name+"-g1-1", failWith("RUN npm run build", npmExit2))
	// worker: its source could not be fetched, so Kaniko never started.
	f.setStatus(worker, worker.Name+"-g1-1", func(ib *buildv1.ImageBuild) {
		ib.Status.Phase = buildv1.PhaseFailed
		setReady(ib, metav1.ConditionFalse, buildv1.ReasonSourceFetchFailed, "fetching the source bundle: MANIFEST_UNKNOWN")
	})

	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("flow logs -f did not end after the builds finished")
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{
		"web: ImageBuild " + web.Name + " のビルド pod を待っています（Pending: waiting for a free build slot）",
		"==> web: ImageBuild " + web.Name + "（Building）、pod " + web.Name + "-g1-1",
		"worker: pod " + worker.Name + "-g1-1 の kaniko コンテナは起動しませんでした: Failed, SourceFetchFailed: fetching the source bundle: MANIFEST_UNKNOWN",
		"web: ImageBuild " + web.Name + ": Failed, BuildFailed: ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "[web] FROM node:20-alpine\n") || !strings.Contains(stdout, "[web] "+npmExit2+"\n") {
		t.Errorf("stdout lacks web's output from start to end:\n%s", stdout)
	}
	if n := logs.opens(web.Name + "-g1-1"); n < 2 {
		t.Errorf("web's log was opened %d times: flow logs -f did not wait for the container to start", n)
	}
}

// flow logs for a user who may read ImageBuilds but not pod logs: the real API server refuses,
// flow says so once and shows what the status kept.
func TestIntegration_LogsWithoutPermissionOnPodLogs(t *testing.T) {
	f := newFixture(t)
	f.logs = newRecordedLogs()
	if code, _, stderr := f.flow("build", "--push", "--no-wait", "-n", "web", "-n", "worker", "prod"); code != 0 {
		t.Fatalf("flow build --no-wait: exit %d\n%s", code, stderr)
	}
	for _, svc := range []string{"web", "worker"} {
		ib := f.buildOf(svc)
		f.setStatus(ib, ib.Name+"-g1-1", failWith("RUN make", "marker-"+svc+"-kept", npmExit2))
	}
	f.logs = nil // the API server's pods/log, with RBAC
	f.restCfg = f.userWith(t, "viewer-without-logs", withoutPodLogs(t, "imagebuild_viewer_role.yaml"))
	code, stdout, stderr := f.flow("logs", "prod")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(stderr, "pods/log の get が禁止されています"); n != 1 {
		t.Errorf("the missing permission is said %d times, want once:\n%s", n, stderr)
	}
	if !strings.Contains(stdout, "[web] marker-web-kept\n") || !strings.Contains(stdout, "[worker] marker-worker-kept\n") {
		t.Errorf("the kept lines are not shown:\n%s", stdout)
	}
}

// buildOf is the newest ImageBuild of a service in the fixture's namespace.
func (f *fixture) buildOf(service string) *buildv1.ImageBuild {
	f.t.Helper()
	var newest *buildv1.ImageBuild
	for _, ib := range f.builds() {
		if ib.Labels[buildv1.LabelService] == service && (newest == nil || newer(&ib, newest)) {
			newest = &ib
		}
	}
	if newest == nil {
		f.t.Fatalf("no ImageBuild of %s", service)
	}
	return newest
}

// setStatus plays the operator for one build: its pod (created when named), then the status
// finish writes.
func (f *fixture) setStatus(ib *buildv1.ImageBuild, pod string, finish func(*buildv1.ImageBuild)) {
	f.t.Helper()
	if pod != "" {
		f.createPod(pod)
	}
	ib = ib.DeepCopy()
	ib.Status.ObservedGeneration = ib.Generation
	ib.Status.PodName = pod
	finish(ib)
	if err := k8s.Status().Update(context.Background(), ib); err != nil {
		f.t.Fatal(err)
	}
}

// userWith is a user holding rules in the fixture's namespace, and nothing else.
func (f *fixture) userWith(t *testing.T, name string, rules []rbacv1.PolicyRule) *rest.Config {
	t.Helper()
	user := name + "-" + f.ns
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Rules: rules}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	authn, err := testEnvironment.AddUser(envtest.User{Name: user}, restCfg)
	if err != nil {
		t.Fatal(err)
	}
	return authn.Config()
}

// withoutPodLogs are the rules of one of the ClusterRoles the project gives people (config/rbac),
// but get on pods/log.
func withoutPodLogs(t *testing.T, file string) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, r := range role.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "pods/log" {
			continue
		}
		rules = append(rules, r)
	}
	if len(rules) != len(role.Rules)-1 {
		t.Fatalf("%s has no pods/log rule to leave out: %+v", file, role.Rules)
	}
	return rules
}

// The roles people get let them read build output: flow build and flow logs show it.
func TestIntegration_UserRolesReadBuildOutput(t *testing.T) {
	for _, file := range []string{"imagebuild_editor_role.yaml", "imagebuild_viewer_role.yaml"} {
		withoutPodLogs(t, file)
	}
}
