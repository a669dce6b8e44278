//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// A RUN step that fails shows its own output: under the ✗ line in plain output and on a terminal,
// streamed with --progress plain, with flow logs from the pod's log, and, once the pod is
// deleted, from the ImageBuild's status in kubectl describe and flow logs.
func TestE2E_FailingStepShowsItsOutput(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN echo marker-123 && false\n")
	env := registryEnv("logs-" + runID)

	// Plain output (no terminal): the last lines under the ✗ line, and with --progress plain
	// every line as it happens.
	r := flow(t, dir, env, "build", "--push", "--progress", "plain", "--namespace", ns, "prod")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{
		"[app] RUN echo marker-123 && false\n[app] marker-123\n",
		"\n  [app] RUN echo marker-123 && false\n  [app] marker-123\n  [app] error building image: ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plain output lacks %q", want)
		}
	}

	// A terminal: live bars, then the same lines under the ✗ line.
	code, tty := flowTTY(t, dir, env, "build", "--push", "--namespace", ns, "prod")
	if code != 1 {
		t.Errorf("exit %d under a terminal, want 1", code)
	}
	if !strings.Contains(tty, "\x1b[") {
		t.Errorf("the run under a terminal drew no live bars: %q", tty)
	}
	if !strings.Contains(tty, "✗ app: BuildFailed: ") || !strings.Contains(tty, "  [app] marker-123\r\n") {
		t.Errorf("the terminal output lacks the failure with marker-123 under it")
	}

	ib := latestBuild(t, ns)
	if fl := ib.Status.FailureLog; fl == nil || fl.Pod != ib.Status.PodName || !strings.Contains(strings.Join(fl.Tail, "\n"), "marker-123") {
		t.Fatalf("status.failureLog = %+v, want marker-123 from pod %s", ib.Status.FailureLog, ib.Status.PodName)
	}

	// flow logs reads the pod's log, on the real node.
	r = flow(t, dir, env, "logs", "--namespace", ns, "prod")
	if r.code != 0 || !strings.Contains(r.stdout, "[app] RUN echo marker-123 && false\n[app] marker-123\n") ||
		!strings.Contains(r.stderr, "==> app: ImageBuild "+ib.Name+"（Failed, BuildFailed）、pod "+ib.Status.PodName) {
		t.Errorf("flow logs: exit %d, no output from pod %s", r.code, ib.Status.PodName)
	}

	// The pod goes; its last lines stay in the status.
	kubectl(t, "delete", "pod", "-n", ns, ib.Status.PodName, "--wait=true")
	describe := kubectl(t, "describe", "imagebuild", "-n", ns, ib.Name)
	if !strings.Contains(describe, "Failure Log:") || !strings.Contains(describe, "marker-123") {
		t.Errorf("kubectl describe does not show the last lines after the pod was deleted:\n%s", describe)
	}
	r = flow(t, dir, env, "logs", "--namespace", ns, "prod")
	if r.code != 0 || !strings.Contains(r.stdout, "[app] marker-123\n") || !strings.Contains(r.stderr, "はもうありません") {
		t.Errorf("flow logs after the pod was deleted: exit %d, the kept lines or the explanation missing", r.code)
	}
}

// flow logs -f after flow build --no-wait: it waits for the pod, shows each line as the step
// prints it, and ends with the build.
func TestE2E_LogsFollowsABuild(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN for i in 1 2 3 4 5; do echo \"tick-$i\"; sleep 1; done\n")
	env := registryEnv("follow-" + runID)
	r := flow(t, dir, env, "build", "--push", "--no-cache", "--no-wait", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("flow build --no-wait: exit %d", r.code)
	}
	if !strings.Contains(r.stderr, "flow logs -f --namespace "+ns+" prod") {
		t.Errorf("--no-wait does not say how to follow the build")
	}
	start := time.Now()
	r = flow(t, dir, env, "logs", "-f", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("flow logs -f: exit %d", r.code)
	}
	ib := latestBuild(t, ns)
	if !ib.Status.Phase.Finished() {
		t.Errorf("flow logs -f ended after %s while the build is %s", time.Since(start), ib.Status.Phase)
	}
	want := "[app] tick-1\n[app] tick-2\n[app] tick-3\n[app] tick-4\n[app] tick-5\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("flow logs -f lacks %q", want)
	}
	if !strings.Contains(r.stdout, "[app] Pushed "+registry) || !strings.Contains(r.stderr, "app: ImageBuild "+ib.Name+": Succeeded") {
		t.Errorf("flow logs -f does not follow the build to its push and its result")
	}
}

// latestBuild is the newest ImageBuild of ns.
func latestBuild(t *testing.T, ns string) *buildv1.ImageBuild {
	t.Helper()
	var newest *buildv1.ImageBuild
	for _, ib := range builds(t, ns) {
		if newest == nil || newest.CreationTimestamp.Before(&ib.CreationTimestamp) {
			newest = &ib
		}
	}
	if newest == nil {
		t.Fatal("no ImageBuild")
	}
	poll.Eventually(t, time.Minute, "the build to finish", func() (bool, string) {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(newest), newest); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return newest.Status.Phase.Finished(), string(newest.Status.Phase)
	})
	return newest
}

// flowTTY runs flow under a pseudo-terminal of 120×40, as a person at a terminal would, and
// returns its exit code and what the terminal received.
func flowTTY(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	quoted := make([]string, 0, len(args)+1)
	for _, a := range append([]string{flowBin}, args...) {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	// script gives the command a terminal; stty gives that terminal a size, which flow needs to
	// draw bars.
	cmd := exec.CommandContext(ctx, "script", "-qec", "stty cols 120 rows 40; exec "+strings.Join(quoted, " "), "/dev/null")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "LC_ALL=C.UTF-8", "TERM=xterm"), env...)
	cmd.Env = slicesWithout(cmd.Env, "CI=")
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running flow under script: %v", err)
	}
	t.Logf("flow %s under a terminal (exit %d)\n%s", strings.Join(args, " "), code, out)
	return code, string(out)
}

// slicesWithout drops the environment entries starting with prefix: a CI variable would turn
// the live bars off.
func slicesWithout(env []string, prefix string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// Two platforms, the emulated one failing: every line names its platform, and the failing
// platform's last lines end the output and stay in the status.
func TestE2E_FailingPlatformShowsItsOutput(t *testing.T) {
	ns := namespace(t)
	// The arm64 step fails only after a pause: the failure of one platform stops the others' pods,
	// and the amd64 pod, which may start a few seconds after the arm64 one, must have printed its
	// marker by then.
	dir := project(t, baseFrom+"RUN echo \"marker-$(uname -m)\" && if [ \"$(uname -m)\" != x86_64 ]; then sleep 20; exit 1; fi\n")
	env := registryEnv("logs-multi-" + runID)
	r := flow(t, dir, env, "build", "--push", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--namespace", ns, "prod")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{
		"[app linux/amd64] marker-x86_64\n",
		"[app linux/arm64] marker-aarch64\n",
		"\n  [app linux/arm64] marker-aarch64\n  [app linux/arm64] error building image: ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	ib := latestBuild(t, ns)
	if len(ib.Status.Platforms) != 2 || ib.Status.Platforms[0].Phase != buildv1.PhaseSucceeded {
		t.Fatalf("status.platforms = %+v, want linux/amd64 Succeeded before linux/arm64 failed", ib.Status.Platforms)
	}
	fl := ib.Status.FailureLog
	if fl == nil || fl.Platform != "linux/arm64" || fl.Pod != ib.Status.Platforms[1].PodName || !strings.Contains(strings.Join(fl.Tail, "\n"), "marker-aarch64") {
		t.Errorf("status.failureLog = %+v, want the arm64 pod's output", fl)
	}
	r = flow(t, dir, env, "logs", "--namespace", ns, "prod")
	if r.code != 0 || !strings.Contains(r.stdout, "[app linux/amd64] marker-x86_64\n") || !strings.Contains(r.stdout, "[app linux/arm64] marker-aarch64\n") {
		t.Errorf("flow logs: exit %d, the platforms' output is missing", r.code)
	}
}
