package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/imageindex"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/registryauth"
	"github.com/fleetflow/flow-build/internal/version"
)

// A build with spec.platforms runs one Kaniko pod per platform, in parallel, and ends with the
// image index the operator assembles from what they pushed. The steps, in order:
//
//   - placePlatforms, once per generation before any pod: each platform goes to Ready nodes of
//     its own architecture, else (with emulation enabled) to nodes labelled for emulating it;
//     a platform with neither fails the build before any pod starts (PlatformUnavailable).
//   - ensurePlatformPods: each platform's pod is created, observed and, when lost, retried on its
//     own budget, exactly as the single pod of a build without platforms. The first platform
//     that fails ends the build: the other platforms' pods are stopped and nothing is tagged.
//   - assembleIndex, once every platform has pushed: each image's config is checked against its
//     platform, and the OCI index is pushed under every tag. status.output.digest is its digest.

// indexTimeout bounds one attempt at assembling and pushing the index.
const indexTimeout = 2 * time.Minute

// hasPlatforms reports whether ib is a multi-platform build.
func hasPlatforms(ib *buildv1.ImageBuild) bool { return len(ib.Spec.Platforms) > 0 }

// started reports whether any pod of the current generation was created.
func started(ib *buildv1.ImageBuild) bool {
	if ib.Status.PodName != "" {
		return true
	}
	for _, ps := range ib.Status.Platforms {
		if ps.PodName != "" {
			return true
		}
	}
	return false
}

// ensurePlatforms drives a build with spec.platforms; see the steps above.
func (r *ImageBuildReconciler) ensurePlatforms(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	platforms, invalid := parsePlatforms(ib)
	if invalid != "" {
		// The API server refuses such a spec; this covers objects stored before its rules.
		r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonInvalidSpec, invalid, "")
		return ctrl.Result{}, true, nil
	}
	if len(ib.Status.Platforms) != len(platforms) {
		if done, err := r.placePlatforms(ctx, ib, platforms); done || err != nil {
			return ctrl.Result{}, true, err
		}
	}
	res, err := r.ensurePlatformPods(ctx, ib, platforms)
	ib.Status.PlatformsReady = platformsReady(ib)
	if err != nil || ib.Status.Phase.Finished() {
		return res, true, err
	}
	for _, ps := range ib.Status.Platforms {
		if ps.Phase != buildv1.PhaseSucceeded {
			return res, true, nil
		}
	}
	return r.assembleIndex(ctx, ib, platforms)
}

// parsePlatforms reads spec.platforms, or says what is wrong with it.
func parsePlatforms(ib *buildv1.ImageBuild) ([]platform.Platform, string) {
	platforms, err := platform.ParseList(ib.Spec.Platforms)
	if err != nil {
		return nil, "spec.platforms: " + err.Error()
	}
	return platforms, ""
}

// placePlatforms decides, before any pod exists, where each platform is built, and fails the
// build when a platform has nowhere to go. Deciding once keeps a generation's retries on the same
// kind of node.
func (r *ImageBuildReconciler) placePlatforms(ctx context.Context, ib *buildv1.ImageBuild, platforms []platform.Platform) (bool, error) {
	nodes := &corev1.NodeList{}
	if r.NodeReader != nil {
		if err := r.NodeReader.List(ctx, nodes); err != nil {
			return true, fmt.Errorf("listing nodes to place the platforms of %s: %w", ib.Spec.Image, err)
		}
	}
	var missing []string
	var emulated []string
	statuses := make([]buildv1.PlatformStatus, 0, len(platforms))
	for _, p := range platforms {
		emulate, why := r.placement(nodes.Items, p)
		if why != "" {
			missing = append(missing, why)
			continue
		}
		if emulate {
			emulated = append(emulated, p.String())
		}
		statuses = append(statuses, buildv1.PlatformStatus{
			Platform: p.String(), Phase: buildv1.PhasePending, Emulated: emulate,
			Reason: buildv1.ReasonPending, Message: "waiting for its pod",
		})
	}
	if len(missing) > 0 {
		r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonPlatformUnavailable, strings.Join(missing, "; ")+
			"; no pod was started. Change spec.platforms, or give the cluster a way to build the platform, then build again", "")
		return true, nil
	}
	ib.Status.Platforms = statuses
	if len(emulated) > 0 {
		r.Recorder.Eventf(ib, nil, corev1.EventTypeWarning, "Emulated", "Place",
			"%s built under emulation (no Ready node of that architecture): RUN steps take several times longer than on a native node",
			strings.Join(emulated, ", "))
	}
	return false, nil
}

// placement says whether p is built natively (false) or under emulation (true), or, as why, that
// no node can build it and what would make one.
func (r *ImageBuildReconciler) placement(nodes []corev1.Node, p platform.Platform) (emulate bool, why string) {
	if slices.ContainsFunc(r.NativePlatforms, p.Matches) {
		return false, ""
	}
	if r.NodeReader == nil {
		// The operator runs on a node of its own platform, so the cluster has such nodes.
		if p.Matches(platform.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}) {
			return false, ""
		}
		return false, fmt.Sprintf("no node is known to build %s: this operator may not read nodes (a namespace-scoped install, Helm value watchNamespaces), "+
			"so it builds only its own platform, %s/%s, and those listed in the Helm value nativePlatforms; add %s there if the cluster has %s nodes",
			p, runtime.GOOS, runtime.GOARCH, p, p.Arch)
	}
	var notReady int
	for i := range nodes {
		n := &nodes[i]
		if n.Labels["kubernetes.io/os"] != p.OS || n.Labels["kubernetes.io/arch"] != p.Arch {
			continue
		}
		if usable(n, p.Arch) {
			return false, ""
		}
		notReady++
	}
	var labelled []string
	for i := range nodes {
		n := &nodes[i]
		if n.Labels["kubernetes.io/os"] != p.OS || n.Labels[p.EmulationLabel()] != "true" {
			continue
		}
		if r.Emulation && usable(n, "") {
			return true, ""
		}
		labelled = append(labelled, n.Name)
	}
	why = fmt.Sprintf("no node can build %s: no Ready, schedulable node has kubernetes.io/arch=%s", p, p.Arch)
	if notReady > 0 {
		why += fmt.Sprintf(" (%d such node(s) are not Ready, cordoned or tainted)", notReady)
	}
	switch {
	case !r.Emulation && len(labelled) > 0:
		why += fmt.Sprintf(", and emulation is disabled in the operator although node(s) %s are labelled %s=true: enable it (Helm value emulation.enabled=true)",
			strings.Join(labelled, ", "), p.EmulationLabel())
	case !r.Emulation:
		why += fmt.Sprintf(", and emulation is disabled in the operator. Add a node of architecture %s, or enable emulation (Helm value emulation.enabled=true), register a binfmt_misc handler for %s with the F flag on a node "+
			"(Debian's qemu-user-static, or tonistiigi/binfmt) and label it: kubectl label node NODE %s=true", p.Arch, p.Arch, p.EmulationLabel())
	case len(labelled) > 0:
		why += fmt.Sprintf(", and the node(s) labelled %s=true (%s) are not Ready, cordoned or tainted", p.EmulationLabel(), strings.Join(labelled, ", "))
	default:
		why += fmt.Sprintf(", and no Ready node is labelled %s=true. Add a node of architecture %s, or register a binfmt_misc handler for %s with the F flag on a node "+
			"(Debian's qemu-user-static, or tonistiigi/binfmt) and label it: kubectl label node NODE %s=true", p.EmulationLabel(), p.Arch, p.Arch, p.EmulationLabel())
	}
	return false, why
}

// usable reports whether a build pod can run on n now: Ready, not cordoned, and no taint that a
// build pod does not tolerate (it tolerates only kubernetes.io/arch=<arch>:NoSchedule when
// tolerateArch is set).
func usable(n *corev1.Node, tolerateArch string) bool {
	if n.Spec.Unschedulable {
		return false
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if tolerateArch != "" && t.Key == "kubernetes.io/arch" && t.Value == tolerateArch && t.Effect == corev1.TaintEffectNoSchedule {
			continue
		}
		return false
	}
	return true
}

// ensurePlatformPods creates and observes the pod of every platform not finished yet, then sums
// up: the build fails with the first platform that failed, and stays Pending while every
// platform waits for a slot.
func (r *ImageBuildReconciler) ensurePlatformPods(ctx context.Context, ib *buildv1.ImageBuild, platforms []platform.Platform) (ctrl.Result, error) {
	var res ctrl.Result
	var errs []error
	for i := range ib.Status.Platforms {
		ps := &ib.Status.Platforms[i]
		if ps.Phase.Finished() {
			continue
		}
		after, err := r.ensurePlatformPod(ctx, ib, ps, platforms[i])
		if err != nil {
			errs = append(errs, err)
		}
		if after > 0 && (res.RequeueAfter == 0 || after < res.RequeueAfter) {
			res.RequeueAfter = after
		}
	}
	ib.Status.UserNamespace = userNamespaceOfPlatforms(ib.Status.Platforms)
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	if started(ib) {
		gone, err := r.pushSecretGone(ctx, ib)
		if err != nil {
			return ctrl.Result{}, err
		}
		if gone {
			if err := r.stopPlatforms(ctx, ib, nil, "stopped: the push Secret was deleted"); err != nil {
				return ctrl.Result{}, err
			}
			r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonSecretNotFound, fmt.Sprintf(
				"push Secret %s/%s was deleted before the build finished, so its platform pods were stopped: they could not start, "+
					"or would go on with credentials that were withdrawn. Run flow build again, or recreate the Secret and change the spec to build again",
				ib.Namespace, ib.Spec.PushSecretRef.Name), "")
			return ctrl.Result{}, nil
		}
	}
	if failed := firstFailed(ib); failed != nil {
		if err := r.stopPlatforms(ctx, ib, failed, ""); err != nil {
			return ctrl.Result{}, err
		}
		r.finish(ib, buildv1.PhaseFailed, failed.Reason, fmt.Sprintf("%s failed: %s", failed.Platform, failed.Message), "")
		return ctrl.Result{}, nil
	}
	if deadline := r.deadline(ib); !deadline.IsZero() && r.Clock.Now().After(deadline) {
		var waiting []string
		for _, ps := range ib.Status.Platforms {
			if !ps.Phase.Finished() {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", ps.Platform, ps.Message))
			}
		}
		if len(waiting) > 0 {
			if err := r.stopPlatforms(ctx, ib, nil, "stopped: the build ran out of time (spec.timeout)"); err != nil {
				return ctrl.Result{}, err
			}
			r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonTimeout, fmt.Sprintf(
				"build did not finish within spec.timeout (%s); unfinished: %s", timeout(ib), strings.Join(waiting, "; ")), "")
			return ctrl.Result{}, nil
		}
	}
	r.summarizePlatforms(ib)
	return res, nil
}

// ensurePlatformPod finds or creates the pod of one platform's current attempt and records what
// it says. It returns when to look again without a pod event (a slot wait, the timeout).
func (r *ImageBuildReconciler) ensurePlatformPod(ctx context.Context, ib *buildv1.ImageBuild, ps *buildv1.PlatformStatus, p platform.Platform) (time.Duration, error) {
	attempt := max(ps.Attempts, 1)
	name := buildpod.PlatformPodName(ib, p, attempt)
	pod := &corev1.Pod{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, pod)
	if apierrors.IsNotFound(err) && ps.PodName == name {
		err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, pod)
	}
	switch {
	case apierrors.IsNotFound(err):
		if ps.PodName == name {
			return r.retryLostPlatformPod(ctx, ib, ps, p, fmt.Sprintf("build pod %s was deleted before it finished", name))
		}
		return r.createPlatformPod(ctx, ib, ps, p, attempt)
	case err != nil:
		return 0, fmt.Errorf("reading build pod %s: %w", name, err)
	}
	if !metav1.IsControlledBy(pod, ib) {
		setPlatformFailed(ps, buildv1.ReasonInvalidSpec, fmt.Sprintf(
			"a pod named %s exists but does not belong to this ImageBuild; delete it or rename the ImageBuild", name))
		return 0, nil
	}
	// A manager killed between creating the pod and writing the status left this to us.
	ps.PodName = pod.Name
	if a := podAttempt(pod); a > ps.Attempts {
		ps.Attempts = a
	}
	if ib.Status.StartTime == nil {
		ib.Status.StartTime = r.podStart(pod)
	}
	r.recordUserNamespace(ib, &ps.UserNamespace, pod, ps.Platform)
	// Each platform's pod resolves a branch itself; the first report is recorded. A pinned commit
	// (what flow build --source git renders) is the same on every platform by construction.
	recordGitCommit(ib, pod)
	result := buildpod.Interpret(pod)
	switch {
	case result.Lost:
		return r.retryLostPlatformPod(ctx, ib, ps, p, result.Message)
	case !result.Done:
		now := r.Clock.Now()
		requeue := r.deadline(ib).Sub(now)
		if stuck := result.PullStuck; stuck != nil {
			giveUp := pod.CreationTimestamp.Add(r.ImagePullTimeout)
			if stuck.Permanent || !now.Before(giveUp) {
				if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
					return 0, fmt.Errorf("deleting build pod %s: %w", pod.Name, err)
				}
				setPlatformFailed(ps, stuck.Failure.Reason, stuck.Failure.Message)
				return 0, nil
			}
			requeue = min(requeue, giveUp.Sub(now))
		}
		ps.Phase, ps.Reason, ps.Message = buildv1.PhaseBuilding, buildv1.ReasonBuilding, result.Message
		if ps.Message == "" {
			ps.Message = fmt.Sprintf("building in pod %s (kubectl logs -n %s %s -c kaniko -f)", pod.Name, ib.Namespace, pod.Name)
		}
		return requeue, nil
	}
	result, failureLog := r.readFailure(ctx, pod, result)
	if result.Phase == buildv1.PhaseSucceeded {
		ps.Phase, ps.Reason, ps.Message, ps.Digest = buildv1.PhaseSucceeded, buildv1.ReasonSucceeded, result.Message, result.Digest
		if ib.Spec.Push && !buildpod.ValidDigest(result.Digest) {
			setPlatformFailed(ps, buildv1.ReasonPushFailed, "the pod reported no valid digest for the image it pushed: "+result.Message)
		}
		return 0, nil
	}
	setPlatformFailed(ps, result.Reason, result.Message)
	if failureLog != nil && ib.Status.FailureLog == nil {
		// The first platform that fails ends the build: its output is the build's.
		failureLog.Platform = ps.Platform
		ib.Status.FailureLog = failureLog
	}
	return 0, nil
}

func (r *ImageBuildReconciler) createPlatformPod(ctx context.Context, ib *buildv1.ImageBuild, ps *buildv1.PlatformStatus, p platform.Platform, attempt int32) (time.Duration, error) {
	pod, err := buildpod.BuildPlatform(ib, buildpod.Placement{Platform: p, Emulated: ps.Emulated}, attempt, r.PodOptions)
	if err != nil {
		setPlatformFailed(ps, buildv1.ReasonInvalidSpec, err.Error())
		return 0, nil
	}
	if waitRes, waiting, err := r.waitForOtherPods(ctx, ib, pod.Name); waiting || err != nil {
		// waitForOtherPods says so in the build's condition; the platform waits with it.
		ps.Phase, ps.Reason, ps.Message = buildv1.PhasePending, buildv1.ReasonPending, readyMessage(ib)
		return waitRes.RequeueAfter, err
	}
	slot := pod.Namespace + "/" + pod.Name
	ok, err := r.slots.acquire(ctx, slot)
	if err != nil {
		return 0, err
	}
	if !ok {
		ps.Phase, ps.Reason = buildv1.PhasePending, buildv1.ReasonPending
		ps.Message = fmt.Sprintf("waiting for a free build slot: %d builds run at once in this cluster", r.MaxConcurrentBuilds)
		return slotRecheck, nil
	}
	if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		r.slots.forget(slot)
		if msg, ok := podSecurityRefusal(err, pod); ok {
			ps.Phase, ps.Reason, ps.Message = buildv1.PhasePending, buildv1.ReasonPodSecurityRejected, msg
			return podSecurityRecheck, nil
		}
		return 0, fmt.Errorf("creating build pod %s: %w", pod.Name, err)
	}
	now := metav1.NewTime(r.Clock.Now())
	if ib.Status.StartTime == nil {
		ib.Status.StartTime = &now
	}
	ib.Status.Source = sourceStatus(ib)
	ps.PodName, ps.Attempts = pod.Name, attempt
	// What was asked, known now; what the pod got, once it reports (recordUserNamespace).
	ps.UserNamespace = &buildv1.UserNamespaceStatus{Requested: !r.PodOptions.HostUsers}
	ps.Phase, ps.Reason = buildv1.PhaseBuilding, buildv1.ReasonBuilding
	how := ""
	if ps.Emulated {
		how = ", under emulation"
	}
	ps.Message = fmt.Sprintf("building in pod %s%s (kubectl logs -n %s %s -c kaniko -f)", pod.Name, how, ib.Namespace, pod.Name)
	return 0, nil
}

// retryLostPlatformPod starts a new attempt for a platform whose pod vanished or was evicted, up
// to MaxAttempts for that platform.
func (r *ImageBuildReconciler) retryLostPlatformPod(ctx context.Context, ib *buildv1.ImageBuild, ps *buildv1.PlatformStatus, p platform.Platform, why string) (time.Duration, error) {
	if ps.Attempts >= r.MaxAttempts {
		setPlatformFailed(ps, buildv1.ReasonPodLost, fmt.Sprintf(
			"%s; gave up after %d attempts. Check the node and events (kubectl get events -n %s), then change the spec or recreate the ImageBuild to try again",
			why, ps.Attempts, ib.Namespace))
		return 0, nil
	}
	r.Recorder.Eventf(ib, nil, corev1.EventTypeWarning, buildv1.ReasonPodLost, "Retry", "%s: %s; starting attempt %d of %d", p, why, ps.Attempts+1, r.MaxAttempts)
	return r.createPlatformPod(ctx, ib, ps, p, ps.Attempts+1)
}

// stopPlatforms deletes the pods of the platforms still building once the build cannot succeed
// any more (a platform failed, the time ran out, the credentials went): their images could never
// be tagged. The failed platform's own pod is kept, with its log. why is the stopped platforms'
// message when no platform failed.
func (r *ImageBuildReconciler) stopPlatforms(ctx context.Context, ib *buildv1.ImageBuild, failed *buildv1.PlatformStatus, why string) error {
	for i := range ib.Status.Platforms {
		ps := &ib.Status.Platforms[i]
		if ps.Phase.Finished() {
			continue
		}
		if ps.PodName != "" {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ib.Namespace, Name: ps.PodName}}
			if err := r.Delete(ctx, pod, client.GracePeriodSeconds(supersededGrace)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("stopping build pod %s: %w", ps.PodName, err)
			}
		}
		if failed != nil {
			setPlatformFailed(ps, failed.Reason, fmt.Sprintf("stopped: %s failed, so no index can be pushed", failed.Platform))
		} else {
			setPlatformFailed(ps, buildv1.ReasonTimeout, why)
		}
	}
	return nil
}

// summarizePlatforms sets the build's phase and message from its platforms while they build.
func (r *ImageBuildReconciler) summarizePlatforms(ib *buildv1.ImageBuild) {
	for _, ps := range ib.Status.Platforms {
		if ps.Reason == buildv1.ReasonPodSecurityRejected {
			// The namespace refuses every build pod alike; the build waits for it, as one.
			setStalled(ib, ps.Reason, ps.Message)
			return
		}
	}
	var parts []string
	pending := true
	for _, ps := range ib.Status.Platforms {
		if ps.Phase != buildv1.PhasePending {
			pending = false
		}
		parts = append(parts, fmt.Sprintf("%s: %s", ps.Platform, ps.Message))
	}
	msg := strings.Join(parts, "; ")
	if pending {
		setInProgress(ib, buildv1.PhasePending, buildv1.ReasonPending, msg)
		return
	}
	setInProgress(ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding, msg)
}

// assembleIndex checks every platform's image and pushes the index under every tag (with
// spec.push), then finishes the build.
func (r *ImageBuildReconciler) assembleIndex(ctx context.Context, ib *buildv1.ImageBuild, platforms []platform.Platform) (ctrl.Result, bool, error) {
	names := make([]string, len(platforms))
	for i, p := range platforms {
		names[i] = p.String()
	}
	if !ib.Spec.Push {
		r.finish(ib, buildv1.PhaseSucceeded, buildv1.ReasonSucceeded, "", "")
		setSucceeded(ib, fmt.Sprintf("built %s for %s (not pushed: spec.push is false)", ib.Spec.Image, strings.Join(names, ", ")))
		return ctrl.Result{}, true, nil
	}
	opts, err := r.registryOptions(ctx, ib)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	children := make([]imageindex.Child, len(platforms))
	for i, p := range platforms {
		children[i] = imageindex.Child{Platform: p, Digest: ib.Status.Platforms[i].Digest}
	}
	actx, cancel := context.WithTimeout(ctx, indexTimeout)
	defer cancel()
	idx, err := imageindex.Assemble(actx, ib.Spec.Image, children, opts...)
	if err == nil {
		err = imageindex.Push(actx, ib.Spec.Image, ib.Spec.Tags, idx, opts...)
	}
	var digest string
	if err == nil {
		d, derr := idx.Digest()
		digest, err = d.String(), derr
	}
	var mismatch *imageindex.MismatchError
	switch {
	case errors.As(err, &mismatch):
		for i := range ib.Status.Platforms {
			if ps := &ib.Status.Platforms[i]; ps.Platform == mismatch.Platform.String() {
				setPlatformFailed(ps, buildv1.ReasonPlatformMismatch, mismatch.Error())
			}
		}
		r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonPlatformMismatch, mismatch.Error(), "")
		return ctrl.Result{}, true, nil
	case isAuthError(err):
		host := registryHost(ib.Spec.Image)
		r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonAuthenticationFailed, fmt.Sprintf(
			"registry %s refused the operator's push of the image index of %s (%v); the operator uses the build's push Secret (spec.pushSecretRef), "+
				"or no credentials without one: check that the Secret allows pushing to %s", host, ib.Spec.Image, err, ib.Spec.Image), "")
		return ctrl.Result{}, true, nil
	case err != nil:
		if deadline := r.deadline(ib); !deadline.IsZero() && r.Clock.Now().After(deadline) {
			r.finish(ib, buildv1.PhaseFailed, buildv1.ReasonPushFailed, fmt.Sprintf(
				"every platform was built, but the image index of %s could not be pushed before spec.timeout ran out: %v; no tag moved", ib.Spec.Image, err), "")
			return ctrl.Result{}, true, nil
		}
		setInProgress(ib, buildv1.PhaseBuilding, buildv1.ReasonBuilding, fmt.Sprintf("pushing the image index of %s failed, retrying: %v", ib.Spec.Image, err))
		// The error requeues the build with backoff.
		return ctrl.Result{}, true, fmt.Errorf("pushing the image index of %s: %w", ib.Spec.Image, err)
	}
	r.finish(ib, buildv1.PhaseSucceeded, buildv1.ReasonSucceeded, "", digest)
	ib.Status.Output.Platforms = names
	setSucceeded(ib, fmt.Sprintf("pushed the image index %s for %s", ib.Status.Output.ImageRef, strings.Join(names, ", ")))
	return ctrl.Result{}, true, nil
}

// registryOptions are how the operator reaches the build's registry: with the push Secret's
// credentials when the build has one, anonymously otherwise.
func (r *ImageBuildReconciler) registryOptions(ctx context.Context, ib *buildv1.ImageBuild) ([]remote.Option, error) {
	opts := []remote.Option{remote.WithUserAgent("flow-build-operator/" + version.Version)}
	if r.RegistryTransport != nil {
		opts = append(opts, remote.WithTransport(r.RegistryTransport))
	}
	kc := authn.NewMultiKeychain() // none: anonymous
	if ref := ib.Spec.PushSecretRef; ref != nil {
		secret := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: ref.Name}, secret); err != nil {
			return nil, fmt.Errorf("reading push Secret %s/%s for the image index: %w", ib.Namespace, ref.Name, err)
		}
		var err error
		if kc, err = registryauth.SecretKeychain(secret.Data[corev1.DockerConfigJsonKey]); err != nil {
			return nil, fmt.Errorf("push Secret %s/%s: %w", ib.Namespace, ref.Name, err)
		}
	}
	return append(opts, remote.WithAuthFromKeychain(kc)), nil
}

func isAuthError(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden)
}

// registryHost is the registry of an image name, for messages.
func registryHost(image string) string {
	first, _, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// userNamespaceOfPlatforms sums up what the platforms' pods reported about their user namespaces:
// active once every platform's pod ran in one, not active as soon as one did not; the node UIDs
// and mappings stay with the platforms.
func userNamespaceOfPlatforms(platforms []buildv1.PlatformStatus) *buildv1.UserNamespaceStatus {
	var st *buildv1.UserNamespaceStatus
	all := len(platforms) > 0
	for _, ps := range platforms {
		un := ps.UserNamespace
		if un == nil {
			all = false
			continue
		}
		if st == nil {
			st = &buildv1.UserNamespaceStatus{}
		}
		st.Requested = st.Requested || un.Requested
		switch {
		case un.Active == nil:
			all = false
		case !*un.Active:
			st.Active = ptr.To(false)
		}
	}
	if st != nil && st.Active == nil && all {
		st.Active = ptr.To(true)
	}
	return st
}

func setPlatformFailed(ps *buildv1.PlatformStatus, reason, message string) {
	ps.Phase, ps.Reason, ps.Message = buildv1.PhaseFailed, reason, message
}

// firstFailed is the first platform, in spec order, that failed on its own.
func firstFailed(ib *buildv1.ImageBuild) *buildv1.PlatformStatus {
	for i := range ib.Status.Platforms {
		if ps := &ib.Status.Platforms[i]; ps.Phase == buildv1.PhaseFailed {
			return ps
		}
	}
	return nil
}

// platformsReady is the "built/asked for" count of the kubectl get column.
func platformsReady(ib *buildv1.ImageBuild) string {
	n := 0
	for _, ps := range ib.Status.Platforms {
		if ps.Phase == buildv1.PhaseSucceeded {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(ib.Spec.Platforms))
}
