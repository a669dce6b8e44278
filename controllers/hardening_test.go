package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
)

var testDigest = "sha256:" + strings.Repeat("0123456789abcdef", 4)

// newGeneration changes the build's spec as an API server would record it: a new generation.
func (e *unitEnv) newGeneration(key types.NamespacedName, change func(*buildv1.ImageBuild)) {
	e.t.Helper()
	ib := e.get(key)
	change(ib)
	ib.Generation++
	if err := e.c.Update(context.Background(), ib); err != nil {
		e.t.Fatal(err)
	}
}

// kanikoDone finishes a pod as the kubelet would when Kaniko exits.
func (e *unitEnv) kanikoDone(name string, exitCode int32, message string) {
	e.t.Helper()
	pod, ok := e.pod(name)
	if !ok {
		e.t.Fatalf("no pod %s", name)
	}
	pod.Status.Phase = corev1.PodSucceeded
	if exitCode != 0 {
		pod.Status.Phase = corev1.PodFailed
	}
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: buildpod.FetchContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: buildpod.KanikoContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Message: message}}}}
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

// forwardedSecret stores a Secret as `flow build` forwards it: annotated, controlled by owner.
func (e *unitEnv) forwardedSecret(name string, owner types.NamespacedName) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS,
			Annotations: map[string]string{buildv1.AnnotationEphemeralSecret: "true"}},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)},
	}
	if owner.Name != "" {
		ib := e.get(owner)
		s.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ib, buildv1.ImageBuildKind)}
	}
	if err := e.c.Create(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *unitEnv) secretExists(name string) bool {
	e.t.Helper()
	err := e.c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: name}, &corev1.Secret{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	return err == nil
}

func withPushSecret(name string) func(*buildv1.ImageBuild) {
	return func(ib *buildv1.ImageBuild) { ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: name} }
}

// A spec change while a pod builds stops that pod at once, and the new generation's pod starts
// only once the old one is gone, so that the last push to the tags is the current generation's.
func TestSpecChangeStopsTheSupersededPod(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("gen", nil)
	e.reconcile(key)
	old, ok := e.pod("gen-g1-1")
	if !ok {
		t.Fatal("no pod for generation 1")
	}
	// A finalizer stands in for the kubelet: the pod stays, terminating, until it is released.
	old.Finalizers = []string{"test.fleetflow.dev/kubelet"}
	if err := e.c.Update(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	e.setPodPhase("gen-g1-1", corev1.PodRunning)

	e.newGeneration(key, func(ib *buildv1.ImageBuild) {
		ib.Spec.BuildArgs = []buildv1.BuildArg{{Name: "VERSION", Value: "2"}}
	})
	res := e.reconcile(key)
	old, _ = e.pod("gen-g1-1")
	if old.DeletionTimestamp == nil {
		t.Fatal("the pod of the superseded generation was not stopped")
	}
	if _, ok := e.pod("gen-g2-1"); ok {
		t.Fatal("generation 2's pod was created while generation 1's still runs: both would push the same tags")
	}
	ib := e.get(key)
	wantState(t, ib, buildv1.PhasePending, buildv1.ReasonPending)
	if !strings.Contains(readyMessage(ib), "waiting for build pod gen-g1-1 to stop") || res.RequeueAfter == 0 {
		t.Errorf("message %q, requeue %s: want the wait explained and a requeue", readyMessage(ib), res.RequeueAfter)
	}
	if evs := e.events(); !containsPrefix(evs, "Normal "+buildv1.ReasonSuperseded) {
		t.Errorf("no Superseded event in %q", evs)
	}

	// The kubelet confirms: the old pod is gone, and the new generation builds.
	old.Finalizers = nil
	if err := e.c.Update(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.PodName != "gen-g2-1" {
		t.Fatalf("pod %s, want gen-g2-1", ib.Status.PodName)
	}
}

// A pod of an older generation that the cache shows only after the new generation's pod exists
// (it was created just before the spec changed) is stopped as soon as it appears.
func TestLateSupersededPodIsStopped(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("late", nil)
	e.reconcile(key)
	e.newGeneration(key, func(ib *buildv1.ImageBuild) { ib.Spec.Tags = []string{"v2"} })
	e.reconcile(key)
	if _, ok := e.pod("late-g2-1"); !ok {
		t.Fatal("no pod for generation 2")
	}
	// Generation 1's pod reappears running (as a lagging cache would show it).
	ib := e.get(key)
	g1, err := buildpod.Build(&buildv1.ImageBuild{ObjectMeta: ib.ObjectMeta, Spec: ib.Spec}, 1, e.r.PodOptions)
	if err != nil {
		t.Fatal(err)
	}
	g1.Name, g1.Labels[buildv1.LabelGeneration] = "late-g1-1", "1"
	if err := e.c.Create(context.Background(), g1); err != nil {
		t.Fatal(err)
	}
	e.reconcile(key)
	if _, ok := e.pod("late-g1-1"); ok {
		t.Error("a running pod of the superseded generation was left running")
	}
	if _, ok := e.pod("late-g2-1"); !ok {
		t.Error("the current generation's pod was stopped")
	}
}

// A reconcile that read the build before its spec changed (the cache lags) and sees the old
// generation's pod succeed must not write that digest over the new generation's status.
func TestStaleReadNeverReportsAnOlderGenerationsDigest(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("stale", nil)
	e.reconcile(key)
	stale := e.get(key) // generation 1, Building, as a lagging cache still has it
	e.newGeneration(key, func(ib *buildv1.ImageBuild) { ib.Spec.Tags = []string{"v2"} })
	e.kanikoDone("stale-g1-1", 0, testDigest)

	e.r.Client = interceptor.NewClient(e.c.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if ib, ok := obj.(*buildv1.ImageBuild); ok && k == key {
				stale.DeepCopyInto(ib)
				return nil
			}
			return c.Get(ctx, k, obj, opts...)
		},
	})
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil {
		t.Fatal(err)
	}
	ib := e.get(key)
	if ib.Status.Output != nil || ib.Status.Phase == buildv1.PhaseSucceeded {
		t.Fatalf("generation %d reports generation 1's result: phase %s output %+v", ib.Generation, ib.Status.Phase, ib.Status.Output)
	}
	if res.RequeueAfter != conflictRecheck {
		t.Error("a reconcile whose status patch was refused must look again")
	}
}

// Forwarded credentials go on every way a build ends, including failures found before any pod
// ran, and a finished build whose forwarded Secret is still there deletes it on its next
// reconcile, retrying until it is gone.
func TestForwardedSecretDeletedOnEveryTerminalPath(t *testing.T) {
	tests := []struct {
		name   string
		tweak  func(*buildv1.ImageBuild)
		before func(e *unitEnv)
		after  func(e *unitEnv)
		reason string
	}{
		{name: "succeeded", after: func(e *unitEnv) { e.kanikoDone("b-g1-1", 0, testDigest) }, reason: buildv1.ReasonSucceeded},
		{name: "build failed", after: func(e *unitEnv) {
			e.kanikoDone("b-g1-1", 3, "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3")
		}, reason: buildv1.ReasonBuildFailed},
		{name: "invalid spec", tweak: func(ib *buildv1.ImageBuild) {
			ib.Spec.Resources = &corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
		}, reason: buildv1.ReasonInvalidSpec},
		{name: "pod not ours", before: func(e *unitEnv) {
			foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b-g1-1", Namespace: testNS},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}
			if err := e.c.Create(context.Background(), foreign); err != nil {
				e.t.Fatal(err)
			}
		}, reason: buildv1.ReasonInvalidSpec},
		{name: "timeout", after: func(e *unitEnv) { e.clock.SetTime(start.Add(time.Hour)) }, reason: buildv1.ReasonTimeout},
		{name: "pod lost", after: func(e *unitEnv) {
			e.r.MaxAttempts = 1
			e.deletePod("b-g1-1")
		}, reason: buildv1.ReasonPodLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newUnitEnv(t, nil)
			key := e.create("b", func(ib *buildv1.ImageBuild) {
				withPushSecret("b-push")(ib)
				if tt.tweak != nil {
					tt.tweak(ib)
				}
			})
			e.forwardedSecret("b-push", key)
			if tt.before != nil {
				tt.before(e)
			}
			e.reconcile(key)
			if tt.after != nil {
				tt.after(e)
				e.reconcile(key)
			}
			wantState(t, e.get(key), e.get(key).Status.Phase, tt.reason)
			if !e.get(key).Status.Phase.Finished() {
				t.Fatalf("phase %s, want a finished build", e.get(key).Status.Phase)
			}
			if e.secretExists("b-push") {
				t.Errorf("the forwarded Secret outlived the build (%s)", tt.reason)
			}
		})
	}

	t.Run("retried until gone", func(t *testing.T) {
		e := newUnitEnv(t, nil)
		key := e.create("b", withPushSecret("b-push"))
		e.forwardedSecret("b-push", key)
		e.reconcile(key)
		e.kanikoDone("b-g1-1", 0, testDigest)
		failing := true
		e.r.Client = interceptor.NewClient(e.c.(client.WithWatch), interceptor.Funcs{
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				if obj.GetName() == "b-push" && failing {
					return apierrors.NewServiceUnavailable("etcd is having a bad day")
				}
				return c.Delete(ctx, obj, opts...)
			},
		})
		if _, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err == nil {
			t.Fatal("a failed deletion of forwarded credentials was not reported: the build would not be looked at again")
		}
		wantState(t, e.get(key), buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
		if !e.secretExists("b-push") {
			t.Fatal("the failing client deleted the Secret")
		}
		failing = false
		e.reconcile(key) // the retry: the build is finished, its Secret is not gone yet
		if e.secretExists("b-push") {
			t.Error("a finished build's forwarded Secret was not deleted on its next reconcile")
		}
	})
}

// A Secret forwarded for one build never serves another, and a Secret of one's own is never
// deleted by the controller.
func TestForwardedSecretServesOnlyItsBuild(t *testing.T) {
	e := newUnitEnv(t, nil)
	victim := e.create("victim", withPushSecret("victim-push"))
	e.forwardedSecret("victim-push", victim)
	thief := e.create("thief", withPushSecret("victim-push"))
	e.reconcile(thief)
	ib := e.get(thief)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonInvalidSpec)
	if !strings.Contains(readyMessage(ib), "serves only that build") || !strings.Contains(readyMessage(ib), "ImageBuild victim") {
		t.Errorf("message %q does not say whose Secret it is", readyMessage(ib))
	}
	if _, ok := e.pod("thief-g1-1"); ok {
		t.Fatal("a pod mounts another build's forwarded credentials")
	}
	if !e.secretExists("victim-push") {
		t.Fatal("the refused build deleted the owner's Secret")
	}
	e.reconcile(victim)
	if _, ok := e.pod("victim-g1-1"); !ok {
		t.Error("the owner cannot use its own forwarded Secret")
	}
	// Without an owner, an annotated Secret serves nobody.
	e.forwardedSecret("orphan", types.NamespacedName{})
	stray := e.create("stray", withPushSecret("orphan"))
	e.reconcile(stray)
	wantState(t, e.get(stray), buildv1.PhaseFailed, buildv1.ReasonInvalidSpec)
}

// A build whose Secret `flow build` forwards waits for it quietly, and fails when it never comes.
func TestForwardedSecretThatNeverArrives(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("fwd", func(ib *buildv1.ImageBuild) {
		withPushSecret("flow-push-fwd")(ib)
		ib.Annotations = map[string]string{buildv1.AnnotationForwardedPushSecret: "true"}
	})
	res := e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhasePending, buildv1.ReasonPending)
	if res.RequeueAfter != forwardedSecretWait {
		t.Errorf("requeue after %s, want %s", res.RequeueAfter, forwardedSecretWait)
	}
	if evs := e.events(); containsPrefix(evs, "Warning") {
		t.Errorf("a build waiting for its forwarded Secret raised a warning: %q", evs)
	}
	e.clock.SetTime(start.Add(forwardedSecretWait))
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonSecretNotFound)
	if !strings.Contains(readyMessage(ib), "interrupted") {
		t.Errorf("message %q does not explain the missing Secret", readyMessage(ib))
	}
}

// A push Secret deleted while its build runs stops the build with a clear reason instead of
// leaving a pod that cannot mount it until the timeout.
func TestPushSecretDeletedMidBuild(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("mid", withPushSecret("mid-push"))
	e.forwardedSecret("mid-push", key)
	e.reconcile(key)
	wantState(t, e.get(key), buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if err := e.c.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "mid-push"}}); err != nil {
		t.Fatal(err)
	}
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonSecretNotFound)
	if !strings.Contains(readyMessage(ib), "was deleted before the build finished") {
		t.Errorf("message %q", readyMessage(ib))
	}
	if _, ok := e.pod("mid-g1-1"); ok {
		t.Error("the build pod was left waiting for a Secret that is gone")
	}
}

// spec.serviceAccountName is honoured only for service accounts whose owners allowed it; until
// then the build waits, with no pod and no token anywhere.
func TestServiceAccountNeedsConsent(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("sa", func(ib *buildv1.ImageBuild) { ib.Spec.ServiceAccountName = "deployer" })
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhasePending, buildv1.ReasonServiceAccountNotAllowed)
	if !strings.Contains(readyMessage(ib), "does not exist") {
		t.Errorf("message %q", readyMessage(ib))
	}

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: testNS}}
	if err := e.c.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhasePending, buildv1.ReasonServiceAccountNotAllowed)
	if !strings.Contains(readyMessage(ib), "kubectl annotate serviceaccount deployer -n builds build.fleetflow.dev/allow-image-builds=true") {
		t.Errorf("message %q does not say how to allow it", readyMessage(ib))
	}
	if _, ok := e.pod("sa-g1-1"); ok {
		t.Fatal("a build pod runs as a service account nobody allowed")
	}
	if reqs := e.r.buildsWaitingForServiceAccount(context.Background(), sa); len(reqs) != 1 || reqs[0].NamespacedName != key {
		t.Errorf("a change of the service account wakes %v, want %s", reqs, key)
	}

	sa.Annotations = map[string]string{buildv1.AnnotationAllowImageBuilds: "true"}
	if err := e.c.Update(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	e.reconcile(key)
	pod, ok := e.pod("sa-g1-1")
	if !ok {
		t.Fatal("no pod once the service account is allowed")
	}
	if pod.Spec.ServiceAccountName != "deployer" || !ptr.Deref(pod.Spec.AutomountServiceAccountToken, false) {
		t.Errorf("pod service account %q automount %v", pod.Spec.ServiceAccountName, pod.Spec.AutomountServiceAccountToken)
	}
}

// A build pod whose executor image the node cannot pull fails the build within the pull timeout,
// naming the image, rather than at spec.timeout; an image that can never be pulled fails at once.
func TestImagePullFailureFailsFast(t *testing.T) {
	for _, tt := range []struct {
		name, reason string
		wait         time.Duration
	}{
		{"back-off", "ImagePullBackOff", defaultImagePullTimeout},
		{"invalid name", "InvalidImageName", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.PodOptions.ExecutorImage = "registry.test/kaniko:missing" })
			key := e.create("pull", nil)
			e.reconcile(key)
			pod, _ := e.pod("pull-g1-1")
			pod.Status.Phase = corev1.PodPending
			pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: buildpod.FetchContainer,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: buildpod.KanikoContainer, State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: tt.reason, Message: `Back-off pulling image "registry.test/kaniko:missing"`}}}}
			if err := e.c.Status().Update(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			if tt.wait > 0 {
				res := e.reconcile(key)
				wantState(t, e.get(key), buildv1.PhaseBuilding, buildv1.ReasonBuilding)
				if res.RequeueAfter != tt.wait {
					t.Errorf("requeue after %s, want the pull timeout %s", res.RequeueAfter, tt.wait)
				}
				e.clock.SetTime(start.Add(tt.wait))
			}
			e.reconcile(key)
			ib := e.get(key)
			wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonImagePullFailed)
			for _, want := range []string{"registry.test/kaniko:missing", "executor image", "executor.image", tt.reason} {
				if !strings.Contains(readyMessage(ib), want) {
					t.Errorf("message %q lacks %q", readyMessage(ib), want)
				}
			}
			if _, ok := e.pod("pull-g1-1"); ok {
				t.Error("the pod that cannot pull its image was left holding a build slot")
			}
		})
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// A manager killed after it created a pod but before it wrote the status leaves a pod the status
// does not know: the next manager adopts it, attempt and start time included, and builds no other.
func TestPodCreatedByAKilledManagerIsAdopted(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("orphan", nil)
	ib := e.get(key)
	pod, err := buildpod.Build(ib, 1, e.r.PodOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.PodName != pod.Name || ib.Status.Attempts != 1 || ib.Status.StartTime == nil || ib.Status.Source == nil {
		t.Fatalf("status after adopting %s: pod %q attempts %d start %v source %v", pod.Name, ib.Status.PodName, ib.Status.Attempts, ib.Status.StartTime, ib.Status.Source)
	}
	// The adopted pod runs on the build's clock: a pod that never starts still times out.
	e.clock.SetTime(start.Add(time.Hour))
	e.reconcile(key)
	wantState(t, e.get(key), buildv1.PhaseFailed, buildv1.ReasonTimeout)
	list := &corev1.PodList{}
	if err := e.c.List(context.Background(), list); err != nil || len(list.Items) != 0 {
		t.Errorf("pods %d (err %v): want the timed-out pod deleted and no other created", len(list.Items), err)
	}
}
