//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// The fault suite: the operator, the node and the registry fail while builds run, and the builds
// still end as they should: pushed once, with the digest the registry holds, or failed with a
// reason a person can act on. Each case logs its figures ("FAULT ..." lines).

// multiServiceProject writes a FleetFlow project of n services sharing one Dockerfile; each
// service's NAME build arg makes its image differ.
func multiServiceProject(t *testing.T, n int, dockerfile string) (dir string, services []string) {
	t.Helper()
	dir = t.TempDir()
	var kdl strings.Builder
	kdl.WriteString("project \"faults\"\nregistry \"${FLOW_REGISTRY}\"\n")
	for i := range n {
		s := fmt.Sprintf("s%02d", i+1)
		services = append(services, s)
		fmt.Fprintf(&kdl, "service %q {\n dockerfile \"Dockerfile\"\n build_args {\n  BASE_IMAGE \"${FLOW_BASE_IMAGE}\"\n  NAME %q\n }\n}\n", s, s)
	}
	kdl.WriteString("stage \"prod\" {\n")
	for _, s := range services {
		fmt.Fprintf(&kdl, " service %q\n", s)
	}
	kdl.WriteString("}\n")
	for name, content := range map[string]string{"fleet.kdl": kdl.String(), "Dockerfile": dockerfile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, services
}

// leadingManager is the manager pod that holds the leader election lease (and so reconciles),
// or nil while none does: a new manager waits for the lease of a killed one to expire.
func leadingManager(t *testing.T) *corev1.Pod {
	t.Helper()
	lease := &coordinationv1.Lease{}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "flow-build-system", Name: "flow-build-manager.build.fleetflow.dev"}, lease)
	if err != nil || lease.Spec.HolderIdentity == nil || lease.Spec.RenewTime == nil ||
		time.Since(lease.Spec.RenewTime.Time) > 10*time.Second {
		return nil
	}
	list := &corev1.PodList{}
	if err := k8s.List(context.Background(), list, client.InNamespace("flow-build-system"),
		client.MatchingLabels{"app.kubernetes.io/component": "manager"}); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		// controller-runtime's identity is the pod's host name (its name) and a random suffix.
		if p.DeletionTimestamp == nil && strings.HasPrefix(*lease.Spec.HolderIdentity, p.Name+"_") &&
			len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Running != nil {
			return p
		}
	}
	return nil
}

// killManager kills the manager's process with SIGKILL, wherever it is in its work, and deletes
// its pod so that the Deployment starts a new one at once instead of the kubelet restarting the
// container after a crash-loop back-off.
func killManager(t *testing.T, p *corev1.Pod) {
	t.Helper()
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	out, err := exec.Command(os.Getenv("FLOW_CTR"), "--address", os.Getenv("FLOW_CONTAINERD_SOCK"), "-n", "k8s.io",
		"tasks", "kill", "--signal", "SIGKILL", id).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not found") {
		t.Fatalf("killing the manager's container %s: %v\n%s", id, err, out)
	}
	if err := k8s.Delete(context.Background(), p, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
}

// 20 concurrent builds while the manager is killed at random moments: every build succeeds, with
// exactly one pod (no generation built twice), and the registry holds the digest each reports.
func TestE2E_Faults_ManagerKilledAcross20Builds(t *testing.T) {
	const n = 20
	ns := namespace(t)
	dir, _ := multiServiceProject(t, n, baseFrom+"ARG NAME\nRUN echo \"$NAME\" > /name && sleep 6\n")
	start := time.Now()
	r := flow(t, dir, registryEnv("faults-"+runID), "build", "--push", "--no-cache", "--no-wait", "--tag", "k1", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}

	// The killer: a random moment after each new manager has become the leader (and so works on
	// the builds), up to maxKills times or until every build has finished.
	const maxKills = 6
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	var killTimes []string
	deadline := time.Now().Add(12 * time.Minute)
	finished := func() (int, []buildv1.ImageBuild) {
		list := builds(t, ns)
		done := 0
		for _, ib := range list {
			if ib.Status.ObservedGeneration == ib.Generation && ib.Status.Phase.Finished() {
				done++
			}
		}
		return done, list
	}
	for {
		done, list := finished()
		if done == n && len(list) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s and %d kills, %d of %d builds finished: %v", time.Since(start).Round(time.Second), kills, done, n, summarize(list))
		}
		p := leadingManager(t)
		if p == nil || kills == maxKills {
			time.Sleep(time.Second)
			continue
		}
		time.Sleep(time.Duration(500+rng.IntN(7500)) * time.Millisecond)
		if done, _ := finished(); done == n {
			break
		}
		killManager(t, p)
		kills++
		killTimes = append(killTimes, time.Since(start).Round(100*time.Millisecond).String())
	}
	took := time.Since(start)

	succeeded := 0
	for _, ib := range builds(t, ns) {
		pods := podsOf(t, ns, ib.Name)
		if ib.Status.Phase != buildv1.PhaseSucceeded || ib.Status.Output == nil {
			t.Errorf("%s: %s %+v", ib.Name, ib.Status.Phase, readyCondition(&ib))
			continue
		}
		succeeded++
		if len(pods) != 1 || ib.Status.Attempts != 1 {
			t.Errorf("%s: %d pods (%v), %d attempts; want exactly one pod for its one generation", ib.Name, len(pods), podNamesOf(pods), ib.Status.Attempts)
		}
		if got := registryDigest(t, ib.Spec.Image+":k1"); got != ib.Status.Output.Digest {
			t.Errorf("%s: the registry has %s, the status says %s", ib.Name, got, ib.Status.Output.Digest)
		}
		wantUserNamespace(t, &ib)
	}
	t.Logf("FAULT manager killed %d times (at %s) across %d concurrent builds: %d Succeeded, one pod each, digests equal, in %s",
		kills, strings.Join(killTimes, ", "), n, succeeded, took.Round(time.Second))
	if kills == 0 {
		t.Error("the builds finished before the manager could be killed once: the test proved nothing")
	}
	kubectl(t, "rollout", "status", "-n", "flow-build-system", "deployment/flow-build-manager", "--timeout=3m")
}

// wantUserNamespace fails the test unless the build's pod asked for a user namespace and its init
// container reported running in one: the faults must not cost a build its isolation, and a pod a
// new manager adopted must report it too.
func wantUserNamespace(t *testing.T, ib *buildv1.ImageBuild) {
	t.Helper()
	un := ib.Status.UserNamespace
	if un == nil || !un.Requested || un.Active == nil || !*un.Active {
		t.Errorf("%s: status.userNamespace = %+v, want requested and active", ib.Name, un)
	}
}

func podsOf(t *testing.T, ns, build string) []corev1.Pod {
	t.Helper()
	list := &corev1.PodList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{buildv1.LabelImageBuild: build}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func podNamesOf(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// waitRunStep waits until the kaniko container of the only build in ns logs that it runs the
// Dockerfile step starting with step.
func waitRunStep(t *testing.T, ns, step string) *buildv1.ImageBuild {
	t.Helper()
	return waitBuild(t, ns, 3*time.Minute, "Kaniko to run "+step, func(ib *buildv1.ImageBuild) bool {
		for _, p := range buildPods(t, ns) {
			if p.Status.Phase == corev1.PodRunning && strings.Contains(kanikoLog(t, ns, p.Name), "Running: [/bin/sh -c "+step) {
				return true
			}
		}
		return false
	})
}

// The kubelet restarts while Kaniko builds: the build finishes (the containers run on without
// it), or, should the node lose the pod, is retried and says PodLost.
func TestE2E_Faults_KubeletRestartedMidBuild(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN sleep 12 && echo built > /built\n")
	r := flow(t, dir, registryEnv("kubelet-"+runID), "build", "--push", "--no-cache", "--no-wait", "--tag", "kr", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	waitRunStep(t, ns, "sleep 12")
	restarted := time.Now()
	clusterScript(t, "kubelet", "restart")
	back := time.Since(restarted)

	ib := waitBuild(t, ns, 4*time.Minute, "the build to finish", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	c := readyCondition(ib)
	switch {
	case ib.Status.Phase == buildv1.PhaseSucceeded:
		if got := registryDigest(t, ib.Spec.Image+":kr"); got != ib.Status.Output.Digest {
			t.Errorf("the registry has %s, the status says %s", got, ib.Status.Output.Digest)
		}
		wantUserNamespace(t, ib)
	case c.Reason == buildv1.ReasonPodLost:
		// Acceptable only as the retry budget's verdict.
		if ib.Status.Attempts < 2 {
			t.Errorf("PodLost after %d attempt(s): the lost pod was not retried", ib.Status.Attempts)
		}
	default:
		t.Fatalf("phase %s reason %s: %s", ib.Status.Phase, c.Reason, c.Message)
	}
	t.Logf("FAULT kubelet restarted mid-build (node Ready again after %s): %s/%s after %d attempt(s), %s after the restart",
		back.Round(100*time.Millisecond), ib.Status.Phase, c.Reason, ib.Status.Attempts, time.Since(restarted).Round(100*time.Millisecond))
}

// faultyRegistry is a TLS reverse proxy in front of the test registry, on the node's address,
// that answers 503 to the first pushes of a manifest by tag (Kaniko's pushes; bundles go by
// digest).
type faultyRegistry struct {
	host     string
	failures atomic.Int32
	failed   atomic.Int32
	seen     atomic.Int32
}

func startFaultyRegistry(t *testing.T, failFirst int32) *faultyRegistry {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(os.Getenv("FLOW_REGISTRY_CERT"), os.Getenv("FLOW_REGISTRY_KEY"))
	if err != nil {
		t.Fatalf("the registry's certificate: %v", err)
	}
	nodeIP, _, err := net.SplitHostPort(registry)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(nodeIP, "0"), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultyRegistry{host: ln.Addr().String()}
	f.failures.Store(failFirst)
	upstream := &url.URL{Scheme: "https", Host: registry}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	proxy.Transport = regTLS
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "/manifests/sha256:") {
			f.seen.Add(1)
			if f.failures.Add(-1) >= 0 {
				f.failed.Add(1)
				http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}`, http.StatusServiceUnavailable)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// The registry answers 503 to the first pushes: Kaniko's push retry gets the image through, and
// the tag holds the digest the status reports.
func TestE2E_Faults_Registry503OnFirstPushes(t *testing.T) {
	ns := namespace(t)
	proxy := startFaultyRegistry(t, 2)
	dir := project(t, baseFrom+"RUN echo flaky > /flaky\n")
	env := []string{
		"FLOW_REGISTRY=" + proxy.host + "/flaky-" + runID, "NO_COLOR=1",
		// Everything goes through the proxy, the base image too: the forwarded credentials name its host.
		"FLOW_BASE_IMAGE=" + strings.Replace(os.Getenv("FLOW_BASE_IMAGE"), registry, proxy.host, 1),
		"DOCKER_CONFIG=" + dockerConfigFor(t, proxy.host),
	}
	start := time.Now()
	r := flow(t, dir, env, "build", "--push", "--no-cache", "--tag", "f1", "--namespace", ns, "prod")
	if len(builds(t, ns)) == 0 {
		t.Fatalf("exit %d and no build", r.code)
	}
	ib := waitBuild(t, ns, 3*time.Minute, "the build to finish", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	if r.code != 0 || ib.Status.Phase != buildv1.PhaseSucceeded {
		t.Fatalf("exit %d, phase %s: %+v", r.code, ib.Status.Phase, readyCondition(ib))
	}
	if got := proxy.failed.Load(); got != 2 {
		t.Errorf("the proxy failed %d pushes, want 2 (it saw %d)", got, proxy.seen.Load())
	}
	// Read back from the registry itself, not through the proxy.
	image := strings.Replace(ib.Spec.Image, proxy.host, registry, 1)
	if got := registryDigest(t, image+":f1"); got != ib.Status.Output.Digest {
		t.Errorf("the registry has %s, the status says %s", got, ib.Status.Output.Digest)
	}
	wantUserNamespace(t, ib)
	t.Logf("FAULT registry answered 503 to %d of %d tag pushes: Succeeded in %s, digest equal", proxy.failed.Load(), proxy.seen.Load(), time.Since(start).Round(100*time.Millisecond))
}

// dockerConfigFor writes a docker config.json with the registry's credentials for host.
func dockerConfigFor(t *testing.T, host string) string {
	t.Helper()
	pw, err := os.ReadFile(os.Getenv("FLOW_REGISTRY_PASSWORD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return writeDockerConfig(t, host, os.Getenv("FLOW_REGISTRY_USER"), strings.TrimSpace(string(pw)))
}

// The forwarded Secret is deleted while Kaniko builds: the build fails at once with a reason that
// says so, its pod is stopped, and nothing is left running.
func TestE2E_Faults_ForwardedSecretDeletedMidBuild(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"RUN sleep 20 && echo built > /built\n")
	r := flow(t, dir, registryEnv("secret-"+runID), "build", "--push", "--no-cache", "--no-wait", "--tag", "sd", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	ib := waitRunStep(t, ns, "sleep 20")
	if ib.Spec.PushSecretRef == nil {
		t.Fatal("the build has no forwarded push Secret")
	}
	deleted := time.Now()
	if err := k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ib.Spec.PushSecretRef.Name}}); err != nil {
		t.Fatal(err)
	}
	ib = waitBuild(t, ns, time.Minute, "the build to fail", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	failedAfter := time.Since(deleted)
	c := readyCondition(ib)
	if ib.Status.Phase != buildv1.PhaseFailed || c.Reason != buildv1.ReasonSecretNotFound || !strings.Contains(c.Message, "deleted before the build finished") {
		t.Fatalf("phase %s reason %s: %s; want Failed/SecretNotFound saying the Secret was deleted", ib.Status.Phase, c.Reason, c.Message)
	}
	poll.Eventually(t, time.Minute, "no build pod left", func() (bool, string) {
		pods := buildPods(t, ns)
		return len(pods) == 0, fmt.Sprintf("%d pods: %v", len(pods), podNamesOf(pods))
	})
	t.Logf("FAULT forwarded Secret deleted mid-build: Failed/SecretNotFound %s later, pod gone %s later",
		failedAfter.Round(100*time.Millisecond), time.Since(deleted).Round(100*time.Millisecond))
}
