package controllers_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/scheme"
	"github.com/fleetflow/flow-build/internal/testing/envtestutil"
	"github.com/fleetflow/flow-build/internal/testing/poll"
	"github.com/fleetflow/flow-build/internal/testing/syncbuf"
)

// The integration tier: the real manager, in-process, against a real kube-apiserver and etcd.
// Nothing plays the kubelet except the tests, and only by writing pod status.

var (
	restCfg *rest.Config
	// testEnvironment is the envtest control plane, for tests that add users with their own
	// permissions.
	testEnvironment *envtest.Environment
	k8s             client.Client
	// logBuffer collects every log line of every manager in this process, so that a test can prove
	// no secret ever reaches the logs.
	logBuffer syncbuf.Buffer
)

func TestMain(m *testing.M) {
	env, cfg, ok := envtestutil.Start(m)
	if !ok {
		os.Exit(m.Run())
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(&logBuffer), zap.Level(zapcore.DebugLevel)))
	restCfg = cfg
	testEnvironment = env
	var err error
	k8s, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func requireEnvtest(t *testing.T) {
	t.Helper()
	if restCfg == nil {
		t.Skip("integration test: needs KUBEBUILDER_ASSETS (make test-integration)")
	}
}

// testEnv is one test's namespace and the manager restricted to it, so that tests run in parallel
// without seeing each other's builds, and a test may stop and restart its manager.
type testEnv struct {
	t    testing.TB
	ns   string
	opts manager.Options
	// managerConfig is the manager's connection; nil means the envtest administrator's.
	managerConfig *rest.Config
	stop          context.CancelFunc
	stopped       chan struct{}
	managerMu     sync.Mutex
}

func newTestEnv(t *testing.T, tweak func(*manager.Options)) *testEnv {
	t.Helper()
	return newTestEnvAs(t, tweak, nil)
}

// newTestEnvAs is newTestEnv with the manager connecting as the identity connect returns for the
// test's namespace (nil: the envtest administrator).
func newTestEnvAs(t *testing.T, tweak func(*manager.Options), connect func(ns string) *rest.Config) *testEnv {
	t.Helper()
	requireEnvtest(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, ns: ns.Name, opts: manager.Options{
		MetricsAddr:             "0",
		ProbeAddr:               "0",
		ExecutorImage:           buildpod.DefaultExecutorImage,
		FetcherImage:            "registry.test/flow-build-manager:test",
		MaxConcurrentBuilds:     10,
		MaxConcurrentReconciles: 2,
		MaxAttempts:             3,
		PushRetry:               2,
		Namespaces:              []string{ns.Name},
		SkipNameValidation:      true,
	}}
	if tweak != nil {
		tweak(&e.opts)
	}
	if connect != nil {
		e.managerConfig = connect(ns.Name)
	}
	e.startManager()
	t.Cleanup(func() {
		e.stopManager()
		_ = k8s.Delete(context.Background(), ns)
	})
	return e
}

func (e *testEnv) startManager() {
	e.t.Helper()
	e.managerMu.Lock()
	defer e.managerMu.Unlock()
	cfg := restCfg
	if e.managerConfig != nil {
		cfg = e.managerConfig
	}
	mgr, err := manager.New(cfg, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	e.stopped = make(chan struct{})
	go func() {
		defer close(e.stopped)
		if err := mgr.Start(ctx); err != nil {
			e.t.Errorf("manager stopped with error: %v", err)
		}
	}()
}

func (e *testEnv) stopManager() {
	e.managerMu.Lock()
	defer e.managerMu.Unlock()
	if e.stop != nil {
		e.stop()
		<-e.stopped
		e.stop = nil
	}
}

// build returns a valid ImageBuild of this test's namespace; tweak adjusts it.
func (e *testEnv) build(name string, tweak func(*buildv1.ImageBuild)) *buildv1.ImageBuild {
	ib := &buildv1.ImageBuild{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Labels: map[string]string{buildv1.LabelService: name}},
		Spec: buildv1.ImageBuildSpec{
			Image: "registry.test/team/" + name,
			Tags:  []string{"v1.2.0"},
			Push:  true,
			Source: buildv1.BuildSource{Bundle: &buildv1.BundleSource{
				Image: "registry.test/team/" + name + "@sha256:" + strings.Repeat("ab", 32),
			}},
		},
	}
	if tweak != nil {
		tweak(ib)
	}
	return ib
}

func (e *testEnv) create(obj client.Object) {
	e.t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		e.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func (e *testEnv) get(name string) *buildv1.ImageBuild {
	e.t.Helper()
	ib := &buildv1.ImageBuild{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, ib); err != nil {
		e.t.Fatal(err)
	}
	return ib
}

// waitPhase waits for the build's current generation to reach phase with the given Ready reason.
func (e *testEnv) waitPhase(name string, phase buildv1.BuildPhase, reason string) *buildv1.ImageBuild {
	e.t.Helper()
	var ib *buildv1.ImageBuild
	poll.Eventually(e.t, 45*time.Second, fmt.Sprintf("%s to be %s/%s", name, phase, reason), func() (bool, string) {
		ib = &buildv1.ImageBuild{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, ib); err != nil {
			return false, err.Error()
		}
		got := readyCondition(ib)
		return ib.Status.ObservedGeneration == ib.Generation && ib.Status.Phase == phase && got.Reason == reason,
			fmt.Sprintf("generation %d observed %d phase %q reason %q message %q", ib.Generation, ib.Status.ObservedGeneration, ib.Status.Phase, got.Reason, got.Message)
	})
	return ib
}

func readyCondition(ib *buildv1.ImageBuild) metav1.Condition {
	for _, c := range ib.Status.Conditions {
		if c.Type == buildv1.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

func (e *testEnv) pods() []corev1.Pod {
	e.t.Helper()
	list := &corev1.PodList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// podCount is a condition for poll.Consistently: this test's namespace holds exactly n pods.
func (e *testEnv) podCount(n int) func() (bool, string) {
	return func() (bool, string) {
		pods := e.pods()
		return len(pods) == n, fmt.Sprintf("%d pods: %v", len(pods), podNames(pods))
	}
}

// waitPod waits for the build pod of the named build and returns it.
func (e *testEnv) waitPod(podName string) *corev1.Pod {
	e.t.Helper()
	pod := &corev1.Pod{}
	poll.Eventually(e.t, 45*time.Second, "pod "+podName, func() (bool, string) {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: podName}, pod)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return pod
}

// kubelet plays the node's part: it writes the pod status a kubelet would write.
type kubelet struct {
	t *testing.T
}

func (k kubelet) update(pod *corev1.Pod, mutate func(*corev1.PodStatus)) {
	k.t.Helper()
	for range 5 {
		cur := &corev1.Pod{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), cur); err != nil {
			k.t.Fatal(err)
		}
		mutate(&cur.Status)
		err := k8s.Status().Update(context.Background(), cur)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			k.t.Fatalf("kubelet status update of %s: %v", pod.Name, err)
		}
		return
	}
	k.t.Fatalf("kubelet status update of %s kept conflicting", pod.Name)
}

func (k kubelet) running(pod *corev1.Pod) {
	k.update(pod, func(s *corev1.PodStatus) {
		now := metav1.Now()
		s.Phase = corev1.PodRunning
		s.StartTime = &now
		s.InitContainerStatuses = terminatedStatuses(pod.Spec.InitContainers, 0, "", "Completed")
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "kaniko", Image: pod.Spec.Containers[0].Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}}
	})
}

// kanikoExited finishes the pod as a kubelet does when the Kaniko container exits.
func (k kubelet) kanikoExited(pod *corev1.Pod, exitCode int32, message, reason string) {
	k.update(pod, func(s *corev1.PodStatus) {
		now := metav1.Now()
		s.Phase = corev1.PodSucceeded
		if exitCode != 0 {
			s.Phase = corev1.PodFailed
		}
		if s.StartTime == nil {
			s.StartTime = &now
		}
		s.InitContainerStatuses = terminatedStatuses(pod.Spec.InitContainers, 0, "", "Completed")
		s.ContainerStatuses = terminatedStatuses(pod.Spec.Containers, exitCode, message, reason)
	})
}

func terminatedStatuses(containers []corev1.Container, exitCode int32, message, reason string) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, c := range containers {
		out = append(out, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Message: message, Reason: reason,
				StartedAt: metav1.Now(), FinishedAt: metav1.Now(),
			}},
		})
	}
	return out
}
