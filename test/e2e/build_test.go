//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// Cases 1, 4 and 8: the example's prod stage, pushed for real; digests checked at the registry;
// builds overlapping in time; an identical re-run sends no context bytes and starts no pod; a run
// that changes one service builds only that one, from Kaniko's layer cache.
func TestE2E_PushExampleProdStage(t *testing.T) {
	ns := namespace(t)
	dir := filepath.Join(repoRoot, "examples", "shop")
	env := registryEnv("shop-" + runID)
	sha := "c0ffee" + runID

	r := flow(t, dir, env, "build", "--push", "--tag", sha, "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("flow build exited %d", r.code)
	}
	for _, want := range []string{"Building api...", "  → Target: production", "Pushing api...", "✓ api: ", "✓ worker: ", "✓ web: ", "- db: skipped"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	list := builds(t, ns)
	if len(list) != 3 {
		t.Fatalf("%d ImageBuilds, want 3 (db has no Dockerfile)", len(list))
	}
	for _, ib := range list {
		out := ib.Status.Output
		if ib.Status.Phase != buildv1.PhaseSucceeded || out == nil {
			t.Fatalf("%s: phase %s output %+v", ib.Name, ib.Status.Phase, out)
		}
		if got := registryDigest(t, ib.Spec.Image+":"+sha); got != out.Digest {
			t.Errorf("%s: registry has %s, status.output.digest says %s", ib.Spec.Image, got, out.Digest)
		}
		if !strings.Contains(r.stdout, out.Digest) {
			t.Errorf("the output does not print the digest %s of %s", out.Digest, ib.Name)
		}
	}

	// Case 8: the builds ran at the same time.
	pods := buildPods(t, ns)
	overlap := false
	for i := range pods {
		for j := i + 1; j < len(pods); j++ {
			// Kaniko's own log timestamps: container status times have one-second resolution, and a
			// trivial build takes less than that.
			a, b := logWindow(t, ns, pods[i]), logWindow(t, ns, pods[j])
			if a[0].Before(b[1]) && b[0].Before(a[1]) {
				overlap = true
			}
		}
	}
	if !overlap {
		t.Errorf("no two build pods ran at the same time: %v", windows(pods))
	}

	// Case 4: the same run again builds nothing: no pod, no context bytes, every service up to
	// date with the digest of the first run.
	before := map[string]bool{}
	firstDigest := map[string]string{}
	for _, p := range pods {
		before[p.Name] = true
	}
	for _, ib := range list {
		firstDigest[ib.Labels[buildv1.LabelService]] = ib.Status.Output.Digest
	}
	r2 := flow(t, dir, env, "build", "--push", "--tag", sha+"-again", "--namespace", ns, "prod")
	if r2.code != 0 {
		t.Fatalf("second flow build exited %d", r2.code)
	}
	if n := strings.Count(r2.stderr, "レジストリにあり、送信なし"); n != 3 {
		t.Errorf("%d of 3 contexts were not uploaded again, want all 3", n)
	}
	if n := strings.Count(r2.stdout, "(最新のため再ビルド不要)"); n != 3 {
		t.Errorf("%d of 3 services printed as up to date, want all 3", n)
	}
	if pods := newPods(t, ns, before); len(pods) != 0 {
		t.Errorf("the unchanged re-run created build pods %v, want none", pods)
	}
	for _, ib := range builds(t, ns) {
		svc := ib.Labels[buildv1.LabelService]
		if ib.Spec.Tags[0] != sha+"-again" {
			continue
		}
		if c := readyCondition(&ib); ib.Status.Phase != buildv1.PhaseSucceeded || c.Reason != buildv1.ReasonUpToDate ||
			ib.Status.Output == nil || ib.Status.Output.Digest != firstDigest[svc] || ib.Status.PodName != "" {
			t.Errorf("%s: phase %s reason %s output %+v pod %q; want UpToDate with %s and no pod", ib.Name, ib.Status.Phase, c.Reason, ib.Status.Output, ib.Status.PodName, firstDigest[svc])
		} else if got := registryDigest(t, ib.Spec.Image+":"+sha+"-again"); got != firstDigest[svc] {
			t.Errorf("%s: the new tag points at %s, want the reused %s", ib.Name, got, firstDigest[svc])
		}
	}

	// One service changed: stage dev builds api for its debug target, and web as in prod. Only api
	// builds, and the stages it shares with production come from Kaniko's layer cache.
	for _, p := range buildPods(t, ns) {
		before[p.Name] = true
	}
	r3 := flow(t, dir, env, "build", "--push", "--tag", sha+"-dev", "--namespace", ns, "dev")
	if r3.code != 0 {
		t.Fatalf("flow build dev exited %d", r3.code)
	}
	built := newPods(t, ns, before)
	if len(built) != 1 || built[0].Labels[buildv1.LabelService] != "api" {
		t.Fatalf("build pods %v for stage dev, want exactly one, for api", podNamesOf(built))
	}
	if log := kanikoLog(t, ns, built[0].Name); !strings.Contains(log, "Using caching version of cmd") {
		t.Errorf("the api build for the debug target did not use Kaniko's layer cache:\n%s", log)
	}
	if !strings.Contains(r3.stdout, "✓ web: ") || strings.Count(r3.stdout, "(最新のため再ビルド不要)") != 1 {
		t.Errorf("stage dev: want web up to date and api built")
	}
}

// newPods are the build pods of ns not in before.
func newPods(t *testing.T, ns string, before map[string]bool) []corev1.Pod {
	t.Helper()
	var out []corev1.Pod
	for _, p := range buildPods(t, ns) {
		if !before[p.Name] {
			out = append(out, p)
		}
	}
	return out
}

func kanikoWindow(p corev1.Pod) [2]time.Time {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == "kaniko" && c.State.Terminated != nil {
			return [2]time.Time{c.State.Terminated.StartedAt.Time, c.State.Terminated.FinishedAt.Time}
		}
	}
	return [2]time.Time{}
}

// logWindow is when Kaniko logged its first and its last line.
func logWindow(t *testing.T, ns string, p corev1.Pod) [2]time.Time {
	t.Helper()
	raw, err := clientset.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "kaniko", Timestamps: true}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s: %v", p.Name, err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	first, err1 := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0])
	last, err2 := time.Parse(time.RFC3339Nano, strings.Fields(lines[len(lines)-1])[0])
	if err1 != nil || err2 != nil {
		t.Fatalf("log of %s has no timestamps: %v %v", p.Name, err1, err2)
	}
	return [2]time.Time{first, last}
}

func windows(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		w := kanikoWindow(p)
		out = append(out, p.Name+" "+w[0].Format(time.TimeOnly)+"-"+w[1].Format(time.TimeOnly))
	}
	return out
}

// Case 2: wrong credentials, on the laptop and in the cluster.
func TestE2E_WrongCredentials(t *testing.T) {
	t.Run("local password wrong", func(t *testing.T) {
		ns := namespace(t)
		dir := project(t, baseFrom+"COPY hello.txt /hello.txt\n")
		env := append(registryEnv("auth-"+runID), "DOCKER_CONFIG="+dockerConfig(t, "not-the-password"))
		r := flow(t, dir, env, "build", "--push", "--namespace", ns, "prod")
		if r.code != 1 || !strings.Contains(r.stderr, "エラー: レジストリへの認証に失敗しました") ||
			!strings.Contains(r.stderr, "docker login "+registry+" を実行してください") {
			t.Errorf("want exit 1 with the authentication error naming %s", registry)
		}
		if n := len(builds(t, ns)); n != 0 {
			t.Errorf("%d ImageBuilds created after a failed login", n)
		}
	})
	t.Run("cluster secret wrong", func(t *testing.T) {
		ns := namespace(t)
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "stale-regcred", Namespace: ns},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: mustRead(t, filepath.Join(dockerConfig(t, "stale-password"), "config.json"))},
		}
		if err := k8s.Create(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		dir := project(t, baseFrom+"COPY hello.txt /hello.txt\n")
		r := flow(t, dir, registryEnv("auth2-"+runID), "build", "--push", "--push-secret", "stale-regcred", "--namespace", ns, "prod")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		ib := waitBuild(t, ns, time.Minute, "a failed build", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase == buildv1.PhaseFailed })
		c := readyCondition(ib)
		if c.Reason != buildv1.ReasonAuthenticationFailed {
			t.Errorf("reason %s (%s), want AuthenticationFailed", c.Reason, c.Message)
		}
		if !strings.Contains(c.Message, "stale-regcred") && !strings.Contains(c.Message, "docker-registry") {
			t.Errorf("the message %q does not say which Secret to fix or how", c.Message)
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Case 3: a RUN that fails.
func TestE2E_FailingRun(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN echo compiling && exit 3\n")
	r := flow(t, dir, registryEnv("fail-"+runID), "build", "--push", "--namespace", ns, "prod")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	ib := waitBuild(t, ns, time.Minute, "the failed build", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	c := readyCondition(ib)
	if ib.Status.Phase != buildv1.PhaseFailed || c.Reason != buildv1.ReasonBuildFailed || !strings.Contains(c.Message, "exit 3") {
		t.Errorf("phase %s reason %s message %q; want Failed/BuildFailed naming the failing RUN", ib.Status.Phase, c.Reason, c.Message)
	}
	if !strings.Contains(r.stdout, "✗ app:") {
		t.Errorf("the output does not mark the failed service")
	}
}

// Case 5: the manager pod dies in the middle of a build.
func TestE2E_ManagerKilledMidBuild(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN sleep 8 && echo done > /done\n")
	r := flow(t, dir, registryEnv("restart-"+runID), "build", "--push", "--no-wait", "--tag", "r1", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	waitBuild(t, ns, 2*time.Minute, "the build pod to run", func(ib *buildv1.ImageBuild) bool {
		pods := buildPods(t, ns)
		return len(pods) == 1 && pods[0].Status.Phase == corev1.PodRunning
	})
	kubectl(t, "delete", "pod", "-n", "flow-build-system", "-l", "app.kubernetes.io/component=manager", "--wait=false")

	ib := waitBuild(t, ns, 3*time.Minute, "the build to finish", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	if ib.Status.Phase != buildv1.PhaseSucceeded {
		t.Fatalf("phase %s: %+v", ib.Status.Phase, readyCondition(ib))
	}
	if pods := buildPods(t, ns); len(pods) != 1 {
		t.Errorf("%d build pods, want exactly 1", len(pods))
	}
	if got := registryDigest(t, ib.Spec.Image+":r1"); got != ib.Status.Output.Digest {
		t.Errorf("registry %s, status %s", got, ib.Status.Output.Digest)
	}
	kubectl(t, "rollout", "status", "-n", "flow-build-system", "deployment/flow-build-manager", "--timeout=2m")
}

// Case 6: the registry goes away while Kaniko works.
func TestE2E_RegistryStoppedMidPush(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN sleep 10 && echo built > /built\n")
	r := flow(t, dir, registryEnv("down-"+runID), "build", "--push", "--no-cache", "--no-wait", "--tag", "d1", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	waitBuild(t, ns, 2*time.Minute, "Kaniko to run the RUN step", func(ib *buildv1.ImageBuild) bool {
		for _, p := range buildPods(t, ns) {
			// "Running: [...]" is logged once the RUN's process starts, after the base image was
			// pulled; "RUN sleep 10" alone also appears in "Unpacking rootfs as cmd RUN sleep 10
			// requires it", before that pull.
			if p.Status.Phase == corev1.PodRunning && strings.Contains(kanikoLog(t, ns, p.Name), "Running: [/bin/sh -c sleep 10") {
				return true
			}
		}
		return false
	})
	clusterScript(t, "registry", "stop")
	t.Cleanup(func() { clusterScript(t, "registry", "start") })

	ib := waitBuild(t, ns, 3*time.Minute, "the build to fail", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	c := readyCondition(ib)
	if ib.Status.Phase != buildv1.PhaseFailed || c.Reason != buildv1.ReasonPushFailed || ib.Status.Output != nil {
		t.Errorf("phase %s reason %s output %+v; want Failed/PushFailed with no output", ib.Status.Phase, c.Reason, ib.Status.Output)
	}
	if !strings.Contains(c.Message, registry) {
		t.Errorf("the message %q does not name the registry", c.Message)
	}
}

func clusterScript(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot, "hack", "cluster", "cluster.sh"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Case 7: GitOps — rendered manifests applied with kubectl become Ready.
func TestE2E_GitOpsRenderedManifests(t *testing.T) {
	ns := namespace(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: mustRead(t, filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repoRoot, "examples", "shop")
	r := flow(t, dir, registryEnv("gitops-"+runID), "build", "--push", "--tag", "gitops", "--push-secret", "regcred", "-o", "yaml", "-n", "web", "prod")
	if r.code != 0 {
		t.Fatalf("render exited %d", r.code)
	}
	file := filepath.Join(t.TempDir(), "imagebuilds.yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "--namespace", ns, "-f", file)
	kubectl(t, "wait", "--namespace", ns, "--for=condition=Ready", "imagebuild", "--all", "--timeout=4m")
	list := builds(t, ns)
	if len(list) != 1 || list[0].Name != "shop-prod-web" {
		t.Fatalf("builds %v", summarize(list))
	}
	ib := list[0]
	if got := registryDigest(t, ib.Spec.Image+":gitops"); got != ib.Status.Output.Digest {
		t.Errorf("registry %s, status %s", got, ib.Status.Output.Digest)
	}
	// Applying the same file again is no new build.
	kubectl(t, "apply", "--namespace", ns, "-f", file)
	poll.Consistently(t, 2*time.Second, "one build pod after re-applying the same manifests", func() (bool, string) {
		pods := buildPods(t, ns)
		return len(pods) == 1, fmt.Sprintf("%d build pods", len(pods))
	})
}
