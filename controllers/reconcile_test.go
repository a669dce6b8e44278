package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/scheme"
)

// The unit tier of the reconcilers: each step against controller-runtime's fake client, with a
// fake clock, so that timeouts and TTLs are checked in microseconds. The integration tier runs the
// same controllers against a real API server.

var start = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const testNS = "builds"

type unitEnv struct {
	t        *testing.T
	c        client.Client
	clock    *clocktesting.FakePassiveClock
	r        *ImageBuildReconciler
	recorder *events.FakeRecorder
}

func newUnitEnv(t *testing.T, tweak func(*ImageBuildReconciler)) *unitEnv {
	t.Helper()
	s := scheme.New()
	c := fake.NewClientBuilder().WithScheme(s).
		WithStatusSubresource(&buildv1.ImageBuild{}).
		WithIndex(&buildv1.ImageBuild{}, pushSecretIndex, pushSecretName).
		WithIndex(&buildv1.ImageBuild{}, slotWaitIndex, waitingForSlot).
		WithIndex(&buildv1.ImageBuild{}, serviceAccountIndex, serviceAccountName).
		WithIndex(&corev1.Pod{}, podOwnerIndex, podOwnerUID).
		Build()
	clk := clocktesting.NewFakePassiveClock(start)
	rec := events.NewFakeRecorder(100)
	r := &ImageBuildReconciler{
		Client: c, APIReader: c, Scheme: s, Recorder: rec, Clock: clk,
		PodOptions:          buildpod.Options{FetcherImage: "registry.test/flow-build-manager:test"},
		MaxConcurrentBuilds: 10,
		MaxAttempts:         3,
	}
	if tweak != nil {
		tweak(r)
	}
	r.setDefaults(c)
	return &unitEnv{t: t, c: c, clock: clk, r: r, recorder: rec}
}

// create stores a valid ImageBuild as the API server would return it: with a UID and generation 1.
func (e *unitEnv) create(name string, tweak func(*buildv1.ImageBuild)) types.NamespacedName {
	e.t.Helper()
	ib := &buildv1.ImageBuild{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, UID: types.UID("uid-" + name), Generation: 1,
			CreationTimestamp: metav1.NewTime(e.clock.Now())},
		Spec: buildv1.ImageBuildSpec{
			Image: "registry.test/team/" + name, Tags: []string{"v1"}, Push: true,
			Source:  buildv1.BuildSource{Bundle: &buildv1.BundleSource{Image: "registry.test/team/" + name + "@sha256:" + strings.Repeat("ab", 32)}},
			Timeout: &metav1.Duration{Duration: 10 * time.Minute},
		},
	}
	if tweak != nil {
		tweak(ib)
	}
	if err := e.c.Create(context.Background(), ib); err != nil {
		e.t.Fatal(err)
	}
	return client.ObjectKeyFromObject(ib)
}

func (e *unitEnv) reconcile(key types.NamespacedName) ctrl.Result {
	e.t.Helper()
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil {
		e.t.Fatalf("Reconcile(%s): %v", key, err)
	}
	return res
}

func (e *unitEnv) get(key types.NamespacedName) *buildv1.ImageBuild {
	e.t.Helper()
	ib := &buildv1.ImageBuild{}
	if err := e.c.Get(context.Background(), key, ib); err != nil {
		e.t.Fatal(err)
	}
	return ib
}

func (e *unitEnv) pod(name string) (*corev1.Pod, bool) {
	e.t.Helper()
	pod := &corev1.Pod{}
	err := e.c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: name}, pod)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return pod, true
}

func (e *unitEnv) deletePod(name string) {
	e.t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name}}
	if err := e.c.Delete(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

func (e *unitEnv) setPodPhase(name string, phase corev1.PodPhase) {
	e.t.Helper()
	pod, ok := e.pod(name)
	if !ok {
		e.t.Fatalf("no pod %s", name)
	}
	pod.Status.Phase = phase
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		e.t.Fatal(err)
	}
}

// events drains the events recorded so far.
func (e *unitEnv) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.recorder.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func wantState(t *testing.T, ib *buildv1.ImageBuild, phase buildv1.BuildPhase, reason string) {
	t.Helper()
	if ib.Status.Phase != phase || readyReason(ib) != reason {
		t.Fatalf("phase %s reason %s (%s), want %s/%s", ib.Status.Phase, readyReason(ib), readyMessage(ib), phase, reason)
	}
}

// A pod that never starts (unschedulable, image never pulled) has no activeDeadlineSeconds running:
// the controller ends it itself once spec.timeout and the grace period have passed.
func TestPodThatNeverStartsTimesOut(t *testing.T) {
	e := newUnitEnv(t, nil)
	key := e.create("api", nil)

	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.StartTime == nil || !ib.Status.StartTime.Time.Equal(start) {
		t.Fatalf("startTime %v, want %v", ib.Status.StartTime, start)
	}
	if _, ok := e.pod("api-g1-1"); !ok {
		t.Fatal("no build pod")
	}

	deadline := start.Add(10*time.Minute + timeoutGrace)
	if res := e.reconcile(key); res.RequeueAfter != deadline.Sub(start) {
		t.Errorf("a waiting pod is looked at again after %s, want at its deadline, %s", res.RequeueAfter, deadline.Sub(start))
	}
	e.clock.SetTime(deadline.Add(-time.Second))
	if res := e.reconcile(key); res.RequeueAfter != time.Second {
		t.Errorf("a second before the deadline: requeue after %s, want 1s", res.RequeueAfter)
	}
	wantState(t, e.get(key), buildv1.PhaseBuilding, buildv1.ReasonBuilding)

	e.clock.SetTime(deadline.Add(time.Second))
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonTimeout)
	if !strings.Contains(readyMessage(ib), "spec.timeout (10m0s)") {
		t.Errorf("Timeout message %q does not name the timeout", readyMessage(ib))
	}
	if ib.Status.CompletionTime == nil || !ib.Status.CompletionTime.Time.Equal(deadline.Add(time.Second)) {
		t.Errorf("completionTime %v, want the fake clock's now", ib.Status.CompletionTime)
	}
	if _, ok := e.pod("api-g1-1"); ok {
		t.Error("the timed-out pod was not deleted")
	}
	// Finished is finished: later reconciles change nothing.
	e.clock.SetTime(deadline.Add(time.Hour))
	e.reconcile(key)
	wantState(t, e.get(key), buildv1.PhaseFailed, buildv1.ReasonTimeout)
}

// A pod deleted or evicted before it finished gets a new attempt, up to MaxAttempts; then the
// build fails with PodLost instead of looping.
func TestLostPodRetriedUpToMaxAttempts(t *testing.T) {
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.MaxAttempts = 2 })
	key := e.create("lost", nil)
	e.reconcile(key)
	e.deletePod("lost-g1-1")

	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.Attempts != 2 || ib.Status.PodName != "lost-g1-2" {
		t.Fatalf("attempts %d pod %s, want attempt 2 in lost-g1-2", ib.Status.Attempts, ib.Status.PodName)
	}
	if _, ok := e.pod("lost-g1-2"); !ok {
		t.Fatal("no pod for the second attempt")
	}
	if evs := e.events(); !slices.ContainsFunc(evs, func(ev string) bool {
		return strings.HasPrefix(ev, "Warning "+buildv1.ReasonPodLost) && strings.Contains(ev, "starting attempt 2 of 2")
	}) {
		t.Errorf("no Warning PodLost event for the retry in %q", evs)
	}

	e.deletePod("lost-g1-2")
	e.reconcile(key)
	ib = e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonPodLost)
	if !strings.Contains(readyMessage(ib), "gave up after 2 attempts") {
		t.Errorf("PodLost message %q does not say how often it tried", readyMessage(ib))
	}
	if _, ok := e.pod("lost-g1-3"); ok {
		t.Error("a third pod was created beyond MaxAttempts")
	}
}

// With the cap reached a build waits in Pending without a pod; the pod of another build finishing
// wakes it, and it gets the slot.
func TestSlotCap(t *testing.T) {
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.MaxConcurrentBuilds = 1 })
	first := e.create("first", nil)
	e.clock.SetTime(start.Add(time.Second))
	second := e.create("second", nil)

	e.reconcile(first)
	wantState(t, e.get(first), buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	res := e.reconcile(second)
	ib := e.get(second)
	wantState(t, ib, buildv1.PhasePending, buildv1.ReasonPending)
	if !strings.Contains(readyMessage(ib), "waiting for a free build slot: 1 builds run at once") {
		t.Errorf("Pending message %q", readyMessage(ib))
	}
	if _, ok := e.pod("second-g1-1"); ok {
		t.Fatal("a pod beyond the cap")
	}
	if res.RequeueAfter != slotRecheck {
		t.Errorf("a waiting build looks again after %s, want %s: pod events wake it, not polling", res.RequeueAfter, slotRecheck)
	}

	// The first pod finishes: the event wakes exactly the waiting build.
	firstPod, _ := e.pod("first-g1-1")
	done := firstPod.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	if !slotFreed.Update(event.UpdateEvent{ObjectOld: firstPod, ObjectNew: done}) {
		t.Fatal("a build pod finishing does not pass the slot predicate")
	}
	e.setPodPhase("first-g1-1", corev1.PodSucceeded)
	reqs := e.r.buildsWaitingForSlot(context.Background(), done)
	if len(reqs) != 1 || reqs[0].NamespacedName != second {
		t.Fatalf("woken builds %v, want only %s", reqs, second)
	}
	e.reconcile(second)
	wantState(t, e.get(second), buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if _, ok := e.pod("second-g1-1"); !ok {
		t.Fatal("the woken build has no pod")
	}
}

func TestSlotFreedPredicate(t *testing.T) {
	running := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	failed := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}
	terminating := running.DeepCopy()
	terminating.DeletionTimestamp = &metav1.Time{Time: start}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"created", slotFreed.Create(event.CreateEvent{Object: running}), false},
		{"still running", slotFreed.Update(event.UpdateEvent{ObjectOld: running, ObjectNew: running}), false},
		{"failed", slotFreed.Update(event.UpdateEvent{ObjectOld: running, ObjectNew: failed}), true},
		{"terminating", slotFreed.Update(event.UpdateEvent{ObjectOld: running, ObjectNew: terminating}), true},
		{"already finished", slotFreed.Update(event.UpdateEvent{ObjectOld: failed, ObjectNew: failed}), false},
		{"deleted while running", slotFreed.Delete(event.DeleteEvent{Object: running}), true},
		{"deleted after finishing", slotFreed.Delete(event.DeleteEvent{Object: failed}), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// A slot reserved for a pod the cache has not shown yet counts against the cap for a while, so
// that parallel reconciles cannot overshoot it, and then expires.
func TestSlotReservationExpires(t *testing.T) {
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.MaxConcurrentBuilds = 1 })
	ctx := context.Background()
	if ok, err := e.r.slots.acquire(ctx, testNS+"/a-g1-1"); !ok || err != nil {
		t.Fatalf("first reservation: %v %v", ok, err)
	}
	if ok, _ := e.r.slots.acquire(ctx, testNS+"/a-g1-1"); !ok {
		t.Error("the same pod was refused its own reservation")
	}
	if ok, _ := e.r.slots.acquire(ctx, testNS+"/b-g1-1"); ok {
		t.Fatal("a second pod got a slot while the first one's reservation holds it")
	}
	e.clock.SetTime(start.Add(pendingExpiry + time.Second))
	if ok, _ := e.r.slots.acquire(ctx, testNS+"/b-g1-1"); !ok {
		t.Error("the reservation of a pod that never appeared did not expire")
	}
}

// A pod that finished before any other request saw it running gives its slot back as soon as the
// cache shows it, not when its reservation expires: fast builds in a row must not wait a minute.
func TestSlotOfAPodThatFinishedQuickly(t *testing.T) {
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.MaxConcurrentBuilds = 1 })
	ctx := context.Background()
	if ok, err := e.r.slots.acquire(ctx, testNS+"/a-g1-1"); !ok || err != nil {
		t.Fatalf("first reservation: %v %v", ok, err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "a-g1-1", Labels: map[string]string{buildv1.LabelManagedBy: buildv1.ManagedByValue}}}
	if err := e.c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodSucceeded
	if err := e.c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.r.slots.acquire(ctx, testNS+"/b-g1-1"); !ok {
		t.Error("the slot of a pod that already finished is still reserved")
	}
}

// Finished builds go once spec.ttlSecondsAfterFinished has passed, not before; others stay.
func TestTTLDeletion(t *testing.T) {
	e := newUnitEnv(t, nil)
	r := &RetentionReconciler{Client: e.c, Clock: e.clock}
	finished := func(ttl *int32, observed int64) func(*buildv1.ImageBuild) {
		return func(ib *buildv1.ImageBuild) {
			ib.Spec.TTLSecondsAfterFinished = ttl
			ib.Status = buildv1.ImageBuildStatus{Phase: buildv1.PhaseSucceeded, ObservedGeneration: observed, CompletionTime: &metav1.Time{Time: start}}
		}
	}
	ttl := e.create("ttl", finished(ptr.To[int32](60), 1))
	keep := e.create("keep", finished(nil, 1))
	stale := e.create("stale", finished(ptr.To[int32](60), 0)) // a new generation is building
	running := e.create("running", func(ib *buildv1.ImageBuild) { ib.Spec.TTLSecondsAfterFinished = ptr.To[int32](0) })

	reconcile := func(key types.NamespacedName) ctrl.Result {
		t.Helper()
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	exists := func(key types.NamespacedName) bool {
		err := e.c.Get(context.Background(), key, &buildv1.ImageBuild{})
		return !apierrors.IsNotFound(err)
	}

	if res := reconcile(ttl); res.RequeueAfter != time.Minute || !exists(ttl) {
		t.Fatalf("at completion: requeue after %s, exists %v; want 1m and kept", res.RequeueAfter, exists(ttl))
	}
	e.clock.SetTime(start.Add(59 * time.Second))
	if res := reconcile(ttl); res.RequeueAfter != time.Second || !exists(ttl) {
		t.Fatalf("a second before the TTL: requeue after %s, exists %v", res.RequeueAfter, exists(ttl))
	}
	e.clock.SetTime(start.Add(time.Minute))
	reconcile(ttl)
	if exists(ttl) {
		t.Error("the build outlived its TTL")
	}
	e.clock.SetTime(start.Add(24 * time.Hour))
	for _, key := range []types.NamespacedName{keep, stale, running} {
		if res := reconcile(key); res.RequeueAfter != 0 || !exists(key) {
			t.Errorf("%s: requeue after %s, exists %v; want it kept and forgotten", key.Name, res.RequeueAfter, exists(key))
		}
	}
}
