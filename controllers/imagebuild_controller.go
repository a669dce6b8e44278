// Package controllers holds the reconcilers of the ImageBuild API: the build controller, which turns
// each ImageBuild generation into exactly one Kaniko pod and reports its result, and the retention
// controller, which deletes finished builds after their TTL.
package controllers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/platform"
)

const (
	// pushSecretIndex indexes ImageBuilds by the Secret they reference, so that a Secret appearing
	// wakes exactly the builds waiting for it.
	pushSecretIndex = "spec.pushSecretRef.name"

	// slotWaitIndex indexes ImageBuilds waiting for a free build slot, so that a build pod
	// finishing wakes exactly those builds.
	slotWaitIndex = "status.waitingForSlot"

	// timeoutGrace is how long past spec.timeout the controller waits for the kubelet's own
	// activeDeadlineSeconds before it gives up on a pod itself (a pod that never got scheduled
	// has no deadline running).
	timeoutGrace = time.Minute

	// podSecurityRecheck is how soon a build whose pod the namespace's Pod Security admission
	// refused tries again: namespace labels change without an event this controller watches.
	podSecurityRecheck = 30 * time.Second

	// slotRecheck is how soon a build waiting for a free slot looks again by itself. A build pod
	// that finishes or goes wakes the waiting builds at once; this only covers a slot that frees
	// without a pod event (a reservation for a pod that never showed up expiring).
	slotRecheck = pendingExpiry

	// serviceAccountIndex indexes ImageBuilds by spec.serviceAccountName, so that a service
	// account being allowed wakes the builds waiting for it.
	serviceAccountIndex = "spec.serviceAccountName"

	// podOwnerIndex indexes build pods by the UID of the ImageBuild that controls them, so that
	// the pods of one build are found without scanning a namespace.
	podOwnerIndex = "metadata.controllerUID"

	// conflictRecheck is how soon a build whose status patch was refused (it changed since it was
	// read) is looked at again: time for the cache to catch up with the change.
	conflictRecheck = 250 * time.Millisecond

	// defaultImagePullTimeout is ImagePullTimeout's default: the kubelet has retried the pull
	// four or five times by then.
	defaultImagePullTimeout = 2 * time.Minute
)

// ImageBuildReconciler runs one Kaniko pod per ImageBuild generation and reports its result.
type ImageBuildReconciler struct {
	client.Client
	// APIReader reads around the cache where a stale answer would cost a duplicate pod or a false
	// "pod lost", and reads Secrets, which the manager deliberately does not cache.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder

	// PodOptions shape every build pod (executor image, fetcher image, retries).
	PodOptions buildpod.Options
	// MaxConcurrentBuilds caps the build pods running at once; 0 means no cap.
	MaxConcurrentBuilds int
	// MaxAttempts bounds how many pods one generation may use when pods are lost (deleted, evicted).
	MaxAttempts int32
	// MaxConcurrentReconciles is the number of ImageBuilds reconciled in parallel.
	MaxConcurrentReconciles int
	// PodLogs reads the last lines of a container's log, once per failed build pod. Kaniko prints
	// its usage text after some errors, which pushes the cause out of the 2 KiB termination
	// message; the log still has it. Its last lines go into status.failureLog. Nil keeps both to
	// the termination message.
	PodLogs func(ctx context.Context, namespace, pod, container string) (string, error)
	// Clock tells the time (build start and completion, timeouts, slot reservations); nil means
	// the real clock. Tests move a fake one.
	Clock clock.PassiveClock
	// Metadata reads the metadata of Secrets and ServiceAccounts from the manager's metadata-only
	// informers, so that the frequent "does it still exist" questions cost no API request. Nil
	// means APIReader.
	Metadata client.Reader
	// ImagePullTimeout is how long a build pod may fail to pull its own images (the executor and
	// fetch-source images) before the build fails with ImagePullFailed; 0 means two minutes.
	ImagePullTimeout time.Duration
	// NodeReader reads nodes to place the platforms of builds with spec.platforms. Nil means
	// the operator may not read nodes (a namespace-scoped install): a platform is then built only
	// when it is the operator's own or listed in NativePlatforms, and never under emulation.
	NodeReader client.Reader
	// Emulation lets builds with spec.platforms build a platform that no Ready node has natively
	// on nodes labelled for emulating it (buildv1.EmulationLabelPrefix). Off, those labels are
	// ignored.
	Emulation bool
	// NativePlatforms are platforms whose nodes the cluster provisions on demand (an autoscaled
	// node pool that may have no node now): their pods are created with the node selectors even
	// when no such node exists yet.
	NativePlatforms []platform.Platform
	// RegistryTransport carries the operator's own registry traffic (checking the platforms'
	// images, pushing the image index); nil means the default, which trusts the system's CAs.
	RegistryTransport http.RoundTripper

	slots       *slotTracker
	dockerfiles dockerfileCache
	decided     decisions
	// keyLater holds the builds (UID/generation) whose source bundle was not in the registry yet
	// when they started: their input key is computed once it is (lateInputKey).
	keyLater sync.Map
}

// +kubebuilder:rbac:groups=build.fleetflow.dev,resources=imagebuilds,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=build.fleetflow.dev,resources=imagebuilds/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile moves one ImageBuild forward by a sequence of small steps and patches its status once.
func (r *ImageBuildReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ib := &buildv1.ImageBuild{}
	if err := r.Get(ctx, req.NamespacedName, ib); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ib.DeletionTimestamp.IsZero() {
		// Owner references let the garbage collector remove the pod; nothing to report to a dying object.
		return ctrl.Result{}, nil
	}

	before := ib.DeepCopy()
	res, err := r.runSteps(ctx, ib)
	r.lateInputKey(ctx, before, ib)
	r.recordInputKey(ctx, before, ib)
	conflict, perr := r.patchStatus(ctx, before, ib)
	switch {
	case perr != nil:
		return res, kerrors.NewAggregate([]error{err, perr})
	case conflict:
		// The build changed since it was read (a new generation, or the cache lagged behind):
		// this reconcile's conclusions may be about an older spec, so they are dropped and the
		// build is looked at again.
		return ctrl.Result{RequeueAfter: conflictRecheck}, err
	}
	if ib.Status.Phase.Finished() && ib.Status.ObservedGeneration == ib.Generation {
		// Every way a build ends passes here once its status is written, and so does every later
		// resync: forwarded credentials are deleted on any terminal path, and retried until they
		// are gone.
		if derr := r.dropForwardedSecret(ctx, ib); derr != nil {
			err = kerrors.NewAggregate([]error{err, derr})
		}
	}
	return res, err
}

func (r *ImageBuildReconciler) runSteps(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, error) {
	for _, step := range []func(context.Context, *buildv1.ImageBuild) (ctrl.Result, bool, error){
		r.stopSupersededPods,
		r.startGeneration,
		r.checkPushSecret,
		r.reuseUnchanged,
		r.checkGitSecret,
		r.checkServiceAccount,
		r.ensurePod,
	} {
		res, done, err := step(ctx, ib)
		if err != nil || done {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

// startGeneration resets the status when the spec changed: a new generation is a new build.
// It ends the reconcile for builds whose current generation already finished, so that a resync
// never rebuilds.
func (r *ImageBuildReconciler) startGeneration(_ context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	if ib.Status.ObservedGeneration == ib.Generation && ib.Status.Phase != "" {
		return ctrl.Result{}, ib.Status.Phase.Finished(), nil
	}
	conditions := ib.Status.Conditions
	ib.Status = buildv1.ImageBuildStatus{ObservedGeneration: ib.Generation, Conditions: conditions}
	setInProgress(ib, buildv1.PhasePending, buildv1.ReasonPending, "build accepted")
	return ctrl.Result{}, false, nil
}

// ensurePod finds or creates the pod of the current attempt and reflects its state in the status.
// A build with spec.platforms has a pod per platform and an index to push: ensurePlatforms.
func (r *ImageBuildReconciler) ensurePod(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	if hasPlatforms(ib) {
		return r.ensurePlatforms(ctx, ib)
	}
	attempt := max(ib.Status.Attempts, 1)
	name := buildpod.PodName(ib, attempt)
	pod := &corev1.Pod{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, pod)
	if apierrors.IsNotFound(err) && ib.Status.PodName == name {
		// The cache may lag behind our own create; only the API server can tell a lost pod.
		err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, pod)
	}
	switch {
	case apierrors.IsNotFound(err):
		if ib.Status.PodName == name {
			return r.retryLostPod(ctx, ib, fmt.Sprintf("build pod %s was deleted before it finished", name))
		}
		return r.createPod(ctx, ib, attempt)
	case err != nil:
		return ctrl.Result{}, true, fmt.Errorf("reading build pod %s: %w", name, err)
	}
	if !metav1.IsControlledBy(pod, ib) {
		setFailed(ib, buildv1.ReasonInvalidSpec, fmt.Sprintf(
			"a pod named %s exists but does not belong to this ImageBuild; delete it or rename the ImageBuild", name))
		return ctrl.Result{}, true, nil
	}
	return r.observePod(ctx, ib, pod)
}

func (r *ImageBuildReconciler) createPod(ctx context.Context, ib *buildv1.ImageBuild, attempt int32) (ctrl.Result, bool, error) {
	pod, err := buildpod.Build(ib, attempt, r.PodOptions)
	if err != nil {
		setFailed(ib, buildv1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, true, nil
	}
	if res, waiting, err := r.waitForOtherPods(ctx, ib, pod.Name); waiting || err != nil {
		return res, true, err
	}
	slot := pod.Namespace + "/" + pod.Name
	ok, err := r.slots.acquire(ctx, slot)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	if !ok {
		setInProgress(ib, buildv1.PhasePending, buildv1.ReasonPending, fmt.Sprintf(
			"waiting for a free build slot: %d builds run at once in this cluster", r.MaxConcurrentBuilds))
		return ctrl.Result{RequeueAfter: slotRecheck}, true, nil
	}
	if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		r.slots.forget(slot)
		if msg, ok := podSecurityRefusal(err, pod); ok {
			setStalled(ib, buildv1.ReasonPodSecurityRejected, msg)
			return ctrl.Result{RequeueAfter: podSecurityRecheck}, true, nil
		}
		return ctrl.Result{}, true, fmt.Errorf("creating build pod %s: %w", pod.Name, err)
	}
	now := metav1.NewTime(r.Clock.Now())
	ib.Status.PodName = pod.Name
	ib.Status.Attempts = attempt
	if ib.Status.StartTime == nil {
		ib.Status.StartTime = &now
	}
	ib.Status.Source = sourceStatus(ib)
	// What was asked, known now; what the pod got, once it reports (recordUserNamespace).
	ib.Status.UserNamespace = &buildv1.UserNamespaceStatus{Requested: !r.PodOptions.HostUsers}
	setInProgress(ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding, fmt.Sprintf(
		"building %s in pod %s (kubectl logs -n %s %s -c kaniko -f)", ib.Spec.Image, pod.Name, ib.Namespace, pod.Name))
	return ctrl.Result{}, true, nil
}

func (r *ImageBuildReconciler) observePod(ctx context.Context, ib *buildv1.ImageBuild, pod *corev1.Pod) (ctrl.Result, bool, error) {
	r.recordPod(ib, pod)
	r.recordUserNamespace(ib, &ib.Status.UserNamespace, pod, "")
	recordGitCommit(ib, pod)
	result := buildpod.Interpret(pod)
	switch {
	case result.Lost:
		return r.retryLostPod(ctx, ib, result.Message)
	case !result.Done:
		now := r.Clock.Now()
		if deadline := r.deadline(ib); !deadline.IsZero() && now.After(deadline) {
			// The kubelet enforces activeDeadlineSeconds only once the pod started; this covers a pod
			// that never did (unschedulable, image pull failing).
			return r.stopPod(ctx, ib, pod, buildv1.ReasonTimeout, fmt.Sprintf(
				"build did not finish within spec.timeout (%s); last state: %s", timeout(ib), result.Message))
		}
		if gone, err := r.pushSecretGone(ctx, ib); err != nil || gone {
			if err != nil {
				return ctrl.Result{}, true, err
			}
			name := ib.Spec.PushSecretRef.Name
			return r.stopPod(ctx, ib, pod, buildv1.ReasonSecretNotFound, fmt.Sprintf(
				"push Secret %s/%s was deleted before the build finished, so build pod %s was stopped: it could not start, "+
					"or would go on with credentials that were withdrawn. Run flow build again, or recreate the Secret and change the spec to build again",
				ib.Namespace, name, pod.Name))
		}
		requeue := r.deadline(ib).Sub(now)
		if stuck := result.PullStuck; stuck != nil {
			created := pod.CreationTimestamp
			if created.IsZero() && ib.Status.StartTime != nil {
				created = *ib.Status.StartTime
			}
			giveUp := created.Add(r.ImagePullTimeout)
			if stuck.Permanent || !now.Before(giveUp) {
				return r.stopPod(ctx, ib, pod, stuck.Failure.Reason, stuck.Failure.Message)
			}
			requeue = min(requeue, giveUp.Sub(now))
		}
		msg := result.Message
		if msg == "" {
			msg = fmt.Sprintf("building %s in pod %s (kubectl logs -n %s %s -c kaniko -f)", ib.Spec.Image, pod.Name, ib.Namespace, pod.Name)
		}
		setInProgress(ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding, msg)
		return ctrl.Result{RequeueAfter: requeue}, true, nil
	}
	result, ib.Status.FailureLog = r.readFailure(ctx, pod, result)
	r.finish(ib, result.Phase, result.Reason, result.Message, result.Digest)
	return ctrl.Result{}, true, nil
}

// recordPod notes the pod of the current attempt in the status. A manager killed between creating
// a pod and writing the status leaves this to the next one, which finds the pod by its name: the
// attempt and the start time come from the pod itself.
func (r *ImageBuildReconciler) recordPod(ib *buildv1.ImageBuild, pod *corev1.Pod) {
	ib.Status.PodName = pod.Name
	if a := podAttempt(pod); a > ib.Status.Attempts {
		ib.Status.Attempts = a
	}
	if ib.Status.StartTime == nil {
		ib.Status.StartTime = r.podStart(pod)
	}
	if ib.Status.Source == nil {
		ib.Status.Source = sourceStatus(ib)
	}
}

// podStart is when a pod was created, as the start of its build.
func (r *ImageBuildReconciler) podStart(pod *corev1.Pod) *metav1.Time {
	if pod.CreationTimestamp.IsZero() {
		now := metav1.NewTime(r.Clock.Now())
		return &now
	}
	t := pod.CreationTimestamp
	return &t
}

// readFailure reads the Kaniko log of a build pod that failed, once: to classify a failure whose
// cause only the log holds (Result.CauseInLog), and to keep the last lines of the build's output
// in status.failureLog, where `kubectl describe` shows them after the pod is gone. Without the
// log (no permission, the node unreachable) the termination message stands in for the lines.
func (r *ImageBuildReconciler) readFailure(ctx context.Context, pod *corev1.Pod, result buildpod.Result) (buildpod.Result, *buildv1.FailureLog) {
	if result.Phase != buildv1.PhaseFailed || !buildpod.KanikoStarted(pod) {
		return result, nil
	}
	var kanikoLog string
	if r.PodLogs != nil {
		tail, err := r.PodLogs(ctx, pod.Namespace, pod.Name, buildpod.KanikoContainer)
		if err != nil {
			log.FromContext(ctx).Info("could not read the build log; the failure is reported from the pod's status alone", "pod", pod.Name, "error", err.Error())
		}
		kanikoLog = tail
	}
	if result.CauseInLog && kanikoLog != "" {
		result = buildpod.InterpretWithLog(pod, kanikoLog)
	}
	return result, buildpod.FailureLog(pod, kanikoLog)
}

// stopPod ends a build that cannot succeed while its pod has not finished: the pod is deleted, so
// that it neither holds a build slot nor pushes anything later, and the build fails with reason.
func (r *ImageBuildReconciler) stopPod(ctx context.Context, ib *buildv1.ImageBuild, pod *corev1.Pod, reason, message string) (ctrl.Result, bool, error) {
	if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, true, fmt.Errorf("deleting build pod %s: %w", pod.Name, err)
	}
	r.finish(ib, buildv1.PhaseFailed, reason, message, "")
	return ctrl.Result{}, true, nil
}

// recordUserNamespace puts what a build pod reported about its user namespace into *slot (the
// build's status.userNamespace, or a platform's), once per pod, and warns when the pod asked for a
// user namespace and ran without one: then root in the build was root on the node, which nobody
// should learn only by reading the status. platform names the pod's platform in the warning.
func (r *ImageBuildReconciler) recordUserNamespace(ib *buildv1.ImageBuild, slot **buildv1.UserNamespaceStatus, pod *corev1.Pod, platform string) {
	// A pod created before the status had this field says itself what it asked for.
	requested := pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers
	if un := *slot; un != nil {
		if un.Active != nil {
			return
		}
		requested = un.Requested
	}
	st := buildpod.UserNamespaceStatus(pod, requested)
	*slot = st
	if st.Requested && st.Active != nil && !*st.Active {
		m, _ := buildpod.UserNamespace(pod)
		prefix := ""
		if platform != "" {
			prefix = platform + ": "
		}
		r.Recorder.Eventf(ib, pod, corev1.EventTypeWarning, buildv1.ReasonNoUserNamespace, "Build", "%s%s", prefix, buildpod.NoUserNamespaceMessage(pod, m))
	}
}

// podSecurityRefusal recognises the API server's Pod Security admission refusing pod, and returns
// the message that says so, why Kaniko needs "baseline" and how to get it.
func podSecurityRefusal(err error, pod *corev1.Pod) (string, bool) {
	const marker = "violates PodSecurity"
	msg := err.Error()
	i := strings.Index(msg, marker)
	if !apierrors.IsForbidden(err) || i < 0 {
		return "", false
	}
	return fmt.Sprintf(
		"the Pod Security admission of namespace %s refused build pod %s (%s). Kaniko runs as root in the build pod with the "+
			"container runtime's default capabilities, which the \"restricted\" level forbids with or without a user namespace; "+
			"build namespaces need \"baseline\": kubectl label namespace %s pod-security.kubernetes.io/enforce=baseline --overwrite. "+
			"The build starts by itself once the namespace admits it", pod.Namespace, pod.Name, msg[i:], pod.Namespace), true
}

// retryLostPod starts a new attempt for a pod that vanished or was evicted, up to MaxAttempts, so
// that a drained node does not fail a build, while a pod deleted over and over does not loop forever.
func (r *ImageBuildReconciler) retryLostPod(ctx context.Context, ib *buildv1.ImageBuild, why string) (ctrl.Result, bool, error) {
	if ib.Status.Attempts >= r.MaxAttempts {
		r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonPodLost, fmt.Sprintf(
			"%s; gave up after %d attempts. Check the node and events (kubectl get events -n %s), then change the spec or recreate the ImageBuild to try again",
			why, ib.Status.Attempts, ib.Namespace), "")
		return ctrl.Result{}, true, nil
	}
	r.Recorder.Eventf(ib, nil, corev1.EventTypeWarning, buildv1.ReasonPodLost, "Retry", "%s; starting attempt %d of %d", why, ib.Status.Attempts+1, r.MaxAttempts)
	return r.createPod(ctx, ib, ib.Status.Attempts+1)
}

func (r *ImageBuildReconciler) finish(ib *buildv1.ImageBuild, phase buildv1.BuildPhase, reason, message, digest string) {
	now := metav1.NewTime(r.Clock.Now())
	ib.Status.CompletionTime = &now
	if phase == buildv1.PhaseSucceeded {
		if ib.Spec.Push {
			ib.Status.Output = buildpod.Output(ib, digest)
			setSucceeded(ib, fmt.Sprintf("pushed %s", ib.Status.Output.ImageRef))
		} else {
			// Nothing reached a registry, so there is no output a deployment could use.
			setSucceeded(ib, fmt.Sprintf("built %s (not pushed: spec.push is false)", ib.Spec.Image))
		}
	} else {
		setFailed(ib, reason, message)
	}
	if ib.Status.StartTime != nil {
		buildDuration.WithLabelValues(string(phase)).Observe(now.Sub(ib.Status.StartTime.Time).Seconds())
	}
	buildResults.WithLabelValues(string(phase), readyReason(ib)).Inc()
}

// patchStatus writes the status once per reconcile, and records an event whenever the build moved
// to another phase or reason, so that `kubectl describe` tells the story of the build.
//
// The patch carries the resourceVersion that was read: a status concluded from an outdated read
// (a pod of an older generation finishing while the spec changed) must never overwrite the status
// of the current generation. Such a patch is refused, and conflict is true.
func (r *ImageBuildReconciler) patchStatus(ctx context.Context, before, after *buildv1.ImageBuild) (conflict bool, err error) {
	if equalStatus(before, after) {
		return false, nil
	}
	if err := r.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return false, nil
		case apierrors.IsConflict(err):
			return true, nil
		}
		return false, fmt.Errorf("patching status of ImageBuild %s/%s: %w", after.Namespace, after.Name, err)
	}
	if before.Status.Phase != after.Status.Phase || readyReason(before) != readyReason(after) ||
		before.Status.ObservedGeneration != after.Status.ObservedGeneration {
		eventType := corev1.EventTypeNormal
		if after.Status.Phase == buildv1.PhaseFailed || after.Status.Phase == buildv1.PhasePending && readyReason(after) != buildv1.ReasonPending {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(after, nil, eventType, readyReason(after), string(after.Status.Phase), "%s", readyMessage(after))
		log.FromContext(ctx).Info("build moved", "phase", after.Status.Phase, "reason", readyReason(after), "generation", after.Generation)
	}
	return false, nil
}

func (r *ImageBuildReconciler) deadline(ib *buildv1.ImageBuild) time.Time {
	if ib.Status.StartTime == nil {
		return time.Time{}
	}
	return ib.Status.StartTime.Add(timeout(ib) + timeoutGrace)
}

func timeout(ib *buildv1.ImageBuild) time.Duration {
	if ib.Spec.Timeout != nil && ib.Spec.Timeout.Duration > 0 {
		return ib.Spec.Timeout.Duration
	}
	return buildpod.DefaultTimeout
}

// SetupWithManager registers the controller, its watches and its indexes.
func (r *ImageBuildReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.setDefaults(mgr.GetClient())
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(context.Background(), &buildv1.ImageBuild{}, pushSecretIndex, pushSecretName); err != nil {
		return fmt.Errorf("indexing ImageBuilds by push Secret: %w", err)
	}
	if err := indexer.IndexField(context.Background(), &buildv1.ImageBuild{}, slotWaitIndex, waitingForSlot); err != nil {
		return fmt.Errorf("indexing ImageBuilds waiting for a build slot: %w", err)
	}
	if err := indexer.IndexField(context.Background(), &buildv1.ImageBuild{}, serviceAccountIndex, serviceAccountName); err != nil {
		return fmt.Errorf("indexing ImageBuilds by service account: %w", err)
	}
	if err := indexer.IndexField(context.Background(), &corev1.Pod{}, podOwnerIndex, podOwnerUID); err != nil {
		return fmt.Errorf("indexing build pods by ImageBuild: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&buildv1.ImageBuild{}).
		Owns(&corev1.Pod{}).
		// Metadata only: the controller must notice a Secret appear or go, never hold Secret data
		// in memory.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.buildsUsingSecret), builder.OnlyMetadata).
		Watches(&corev1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(r.buildsWaitingForServiceAccount), builder.OnlyMetadata)
	if r.MaxConcurrentBuilds > 0 {
		b = b.Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.buildsWaitingForSlot), builder.WithPredicates(slotFreed))
	}
	return b.WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("imagebuild").
		Complete(r)
}

// setDefaults fills in what the manager's flags may leave unset. pods reads the build pods that
// count against the concurrency cap.
func (r *ImageBuildReconciler) setDefaults(pods client.Reader) {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 3
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 4
	}
	if r.ImagePullTimeout <= 0 {
		r.ImagePullTimeout = defaultImagePullTimeout
	}
	r.slots = &slotTracker{max: r.MaxConcurrentBuilds, reader: pods, clock: r.Clock}
}

func serviceAccountName(o client.Object) []string {
	if name := o.(*buildv1.ImageBuild).Spec.ServiceAccountName; name != "" {
		return []string{name}
	}
	return nil
}

// pushSecretName lists the Secrets a build mounts or reads: its push Secret and its git
// credentials.
func pushSecretName(o client.Object) []string {
	ib := o.(*buildv1.ImageBuild)
	var names []string
	if ref := ib.Spec.PushSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if g := ib.Spec.Source.Git; g != nil && g.SecretRef != nil && (len(names) == 0 || names[0] != g.SecretRef.Name) {
		names = append(names, g.SecretRef.Name)
	}
	return names
}

// waitingForSlot indexes a build that waits for a free slot (or has just been accepted, which
// waits for one as well when the cap is reached) under "true".
func waitingForSlot(o client.Object) []string {
	ib := o.(*buildv1.ImageBuild)
	if ib.Status.Phase == buildv1.PhasePending && readyReason(ib) == buildv1.ReasonPending {
		return []string{"true"}
	}
	if ib.Status.Phase.Finished() {
		return nil
	}
	for _, ps := range ib.Status.Platforms {
		if ps.Phase == buildv1.PhasePending && ps.Reason == buildv1.ReasonPending {
			return []string{"true"}
		}
	}
	return nil
}

// slotFreed passes the pod events that give a build slot back: a build pod that finished, started
// terminating or went away.
var slotFreed = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(e event.UpdateEvent) bool { return holdsSlot(e.ObjectOld) && !holdsSlot(e.ObjectNew) },
	DeleteFunc:  func(e event.DeleteEvent) bool { return holdsSlot(e.Object) },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// buildsWaitingForSlot wakes every build waiting for a free slot, oldest first, when a build pod
// gave one back. The builds race for the slot through the slot tracker; the losers wait on.
func (r *ImageBuildReconciler) buildsWaitingForSlot(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &buildv1.ImageBuildList{}
	if err := r.List(ctx, list, client.MatchingFields{slotWaitIndex: "true"}); err != nil {
		log.FromContext(ctx).Error(err, "listing ImageBuilds waiting for a build slot")
		return nil
	}
	slices.SortStableFunc(list.Items, func(a, b buildv1.ImageBuild) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// buildsUsingSecret wakes the builds that name a Secret which appeared, changed or went: those
// waiting for it start, those in flight notice a deletion, and finished ones delete it when it
// is their forwarded Secret.
func (r *ImageBuildReconciler) buildsUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &buildv1.ImageBuildList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{pushSecretIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing ImageBuilds for Secret", "secret", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// buildsWaitingForServiceAccount wakes the builds that wait for a service account to exist or to
// be allowed for image builds.
func (r *ImageBuildReconciler) buildsWaitingForServiceAccount(ctx context.Context, o client.Object) []reconcile.Request {
	list := &buildv1.ImageBuildList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{serviceAccountIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing ImageBuilds for service account", "serviceAccount", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if ib := &list.Items[i]; ib.Status.PodName == "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ib)})
		}
	}
	return reqs
}

func sourceStatus(ib *buildv1.ImageBuild) *buildv1.SourceStatus {
	switch {
	case ib.Spec.Source.Bundle != nil:
		ref := ib.Spec.Source.Bundle.Image
		for i := len(ref) - 1; i >= 0; i-- {
			if ref[i] == '@' {
				return &buildv1.SourceStatus{BundleDigest: ref[i+1:]}
			}
		}
	case ib.Spec.Source.Git != nil:
		st := &buildv1.SourceStatus{GitRevision: ib.Spec.Source.Git.Revision}
		if rev := ib.Spec.Source.Git.Revision; buildv1.GitCommitRE.MatchString(rev) {
			// Pinned: Kaniko checks out exactly this commit or fails.
			st.GitCommit = strings.ToLower(rev)
		}
		return st
	}
	return nil
}

// recordGitCommit puts the commit a branch or tag named when the build pod resolved it into the
// status, once the pod reported it.
func recordGitCommit(ib *buildv1.ImageBuild, pod *corev1.Pod) {
	st := ib.Status.Source
	if st == nil || ib.Spec.Source.Git == nil || st.GitCommit != "" {
		return
	}
	if commit, ok := buildpod.GitCommit(pod); ok {
		st.GitCommit = commit
	}
}

func equalStatus(a, b *buildv1.ImageBuild) bool {
	return apiequality.Semantic.DeepEqual(a.Status, b.Status)
}
