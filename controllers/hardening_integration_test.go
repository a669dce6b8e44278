package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// bind schedules a pod onto a node, as the scheduler would: from then on deleting it is graceful,
// and the pod stays until its kubelet (here: the test) confirms the containers stopped.
func (e *testEnv) bind(pod *corev1.Pod) {
	e.t.Helper()
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"},
	}
	if err := k8s.SubResource("binding").Create(context.Background(), pod, binding); err != nil {
		e.t.Fatalf("binding %s: %v", pod.Name, err)
	}
}

// statusHistory records every status the API server stored for the build while the test runs.
type statusHistory struct {
	mu   sync.Mutex
	seen []buildv1.ImageBuildStatus
	gens []int64
}

func (e *testEnv) watchStatus(name string) *statusHistory {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	wc, err := client.NewWithWatch(restCfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &buildv1.ImageBuildList{}, client.InNamespace(e.ns))
	if err != nil {
		e.t.Fatal(err)
	}
	h := &statusHistory{}
	go func() {
		for ev := range w.ResultChan() {
			if ib, ok := ev.Object.(*buildv1.ImageBuild); ok && ev.Type != watch.Deleted && ib.Name == name {
				h.mu.Lock()
				h.seen = append(h.seen, *ib.Status.DeepCopy())
				h.gens = append(h.gens, ib.Generation)
				h.mu.Unlock()
			}
		}
	}()
	return h
}

// A spec change while a build runs: the old generation's pod is stopped at once, the new one starts
// only once the old one is gone, and no status of the new generation ever shows the old digest,
// even when the old pod's Kaniko reports success just as the spec changes.
func TestIntegration_SpecChangeMidBuildCancelsTheOldGeneration(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	history := e.watchStatus("mid")
	e.create(e.build("mid", nil))
	ib := e.waitPhase("mid", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	old := e.waitPod(ib.Status.PodName)
	e.bind(old)
	k := kubelet{t}
	k.running(old)

	oldDigest := "sha256:" + strings.Repeat("0ld0", 16)
	newDigest := "sha256:" + strings.Repeat("2e2e", 16)
	ib.Spec.BuildArgs = []buildv1.BuildArg{{Name: "VERSION", Value: "2"}}
	if err := k8s.Update(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, "the superseded pod to be stopped", func() (bool, string) {
		p := &corev1.Pod{}
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(old), p)
		return err == nil && p.DeletionTimestamp != nil, fmt.Sprintf("get: %v", err)
	})
	ib = e.waitPhase("mid", buildv1.PhasePending, buildv1.ReasonPending)
	if !strings.Contains(readyCondition(ib).Message, "to stop") {
		t.Errorf("Pending message %q does not say what the build waits for", readyCondition(ib).Message)
	}
	poll.Consistently(t, time.Second, "no pod of generation 2 while generation 1's still runs", e.podCount(1))

	// The old Kaniko got its push out just as it was told to stop.
	k.kanikoExited(old, 0, oldDigest, "Completed")
	// The kubelet confirms the old pod is gone; generation 2 builds and pushes.
	if err := k8s.Delete(context.Background(), old, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	ib = e.waitPhase("mid", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if !strings.Contains(ib.Status.PodName, "-g2-") {
		t.Fatalf("generation 2 builds in pod %s", ib.Status.PodName)
	}
	k.kanikoExited(e.waitPod(ib.Status.PodName), 0, newDigest, "Completed")
	ib = e.waitPhase("mid", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	if ib.Status.Output.Digest != newDigest {
		t.Errorf("output digest %s, want generation 2's %s", ib.Status.Output.Digest, newDigest)
	}
	e.waitEvent("mid", buildv1.ReasonSuperseded)

	history.mu.Lock()
	defer history.mu.Unlock()
	for i, st := range history.seen {
		if st.Output != nil && st.Output.Digest == oldDigest && (st.ObservedGeneration == 2 || history.gens[i] == 2) {
			t.Errorf("a status of generation 2 carried generation 1's digest: %+v", st)
		}
	}
}

// A build pod that cannot pull its executor image fails the build after the manager's pull
// timeout, naming the image, instead of at spec.timeout.
func TestIntegration_ImagePullFailureFailsTheBuild(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *manager.Options) {
		o.ExecutorImage = "registry.test/kaniko-project/executor:no-such-tag"
		o.ImagePullTimeout = 2 * time.Second
	})
	e.create(e.build("pull", nil))
	ib := e.waitPhase("pull", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	kubelet{t}.update(pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodPending
		s.InitContainerStatuses = terminatedStatuses(pod.Spec.InitContainers, 0, "", "Completed")
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: "kaniko", Image: pod.Spec.Containers[0].Image, State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "failed to pull and unpack image: not found"}}}}
	})
	ib = e.waitPhase("pull", buildv1.PhaseFailed, buildv1.ReasonImagePullFailed)
	if msg := readyCondition(ib).Message; !strings.Contains(msg, "registry.test/kaniko-project/executor:no-such-tag") || !strings.Contains(msg, "executor.image") {
		t.Errorf("message %q does not name the image and the setting", msg)
	}
	poll.Eventually(t, 30*time.Second, "the pod to be deleted", func() (bool, string) {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})
	e.waitEvent("pull", buildv1.ReasonImagePullFailed)
}

// Forwarded credentials serve their own build only, go on every terminal path (also one found
// before any pod ran), and a forwarded Secret deleted mid-build fails that build at once.
func TestIntegration_ForwardedSecrets(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	forward := func(name string, owner *buildv1.ImageBuild) *corev1.Secret {
		s := dockerConfigSecret(e.ns, name, "canary-forwarded")
		s.Annotations = map[string]string{buildv1.AnnotationEphemeralSecret: "true"}
		ref := metav1.NewControllerRef(owner, buildv1.ImageBuildKind)
		ref.BlockOwnerDeletion = ptr.To(false)
		s.OwnerReferences = []metav1.OwnerReference{*ref}
		e.create(s)
		return s
	}
	forwardedBuild := func(name string, tweak func(*buildv1.ImageBuild)) *buildv1.ImageBuild {
		ib := e.build(name, func(ib *buildv1.ImageBuild) {
			ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: name + "-push"}
			ib.Annotations = map[string]string{buildv1.AnnotationForwardedPushSecret: "true"}
			if tweak != nil {
				tweak(ib)
			}
		})
		e.create(ib)
		return ib
	}

	owner := forwardedBuild("owner", nil)
	e.waitPhase("owner", buildv1.PhasePending, buildv1.ReasonPending) // waits quietly for its Secret
	forward("owner-push", owner)
	ib := e.waitPhase("owner", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)

	// Another build naming the owner's Secret is refused and never gets a pod.
	e.create(e.build("thief", func(ib *buildv1.ImageBuild) {
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "owner-push"}
	}))
	thief := e.waitPhase("thief", buildv1.PhaseFailed, buildv1.ReasonInvalidSpec)
	if !strings.Contains(readyCondition(thief).Message, "forwarded for ImageBuild owner") {
		t.Errorf("thief's message %q", readyCondition(thief).Message)
	}

	// The owner's Secret is deleted mid-build: the build fails at once, its pod goes.
	if err := k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "owner-push"}}); err != nil {
		t.Fatal(err)
	}
	ib = e.waitPhase("owner", buildv1.PhaseFailed, buildv1.ReasonSecretNotFound)
	if !strings.Contains(readyCondition(ib).Message, "deleted before the build finished") {
		t.Errorf("owner's message %q", readyCondition(ib).Message)
	}
	poll.Eventually(t, 30*time.Second, "the owner's pod to be deleted", func() (bool, string) {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})

	// A build that fails before any pod runs (a spec the pod builder refuses) drops its Secret too.
	bad := forwardedBuild("bad", func(ib *buildv1.ImageBuild) {
		ib.Spec.Resources = &corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
	})
	forward("bad-push", bad)
	e.waitPhase("bad", buildv1.PhaseFailed, buildv1.ReasonInvalidSpec)
	secretDeleted(t, e.ns, "bad-push")
}

// spec.serviceAccountName waits for the service account's consent, and starts the build as soon
// as the annotation is there.
func TestIntegration_ServiceAccountNeedsConsent(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: e.ns}})
	e.create(e.build("sa", func(ib *buildv1.ImageBuild) { ib.Spec.ServiceAccountName = "deployer" }))
	e.waitPhase("sa", buildv1.PhasePending, buildv1.ReasonServiceAccountNotAllowed)
	poll.Consistently(t, time.Second, "no pod for a service account nobody allowed", e.podCount(0))

	sa := &corev1.ServiceAccount{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "deployer"}, sa); err != nil {
		t.Fatal(err)
	}
	sa.Annotations = map[string]string{buildv1.AnnotationAllowImageBuilds: "true"}
	if err := k8s.Update(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	ib := e.waitPhase("sa", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	if pod.Spec.ServiceAccountName != "deployer" || !ptr.Deref(pod.Spec.AutomountServiceAccountToken, false) {
		t.Errorf("pod runs as %q with automount %v", pod.Spec.ServiceAccountName, pod.Spec.AutomountServiceAccountToken)
	}
}

// secretDeleted waits for the Secret to be gone.
func secretDeleted(t *testing.T, ns, name string) {
	t.Helper()
	poll.Eventually(t, 30*time.Second, "Secret "+name+" to be deleted", func() (bool, string) {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})
}
