package controllers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/kubename"
)

// A spec change during a build makes the running pod build something nobody wants any more, and
// it pushes the same tags as the pod of the new generation: whichever finishes last wins the tag.
// So the pod of a superseded generation is stopped at once, and the pod of the new generation is
// created only once no other pod of the build runs: the last push to a tag is always the current
// generation's, and the status only ever reports the current generation's pod.

const (
	// supersededGrace is the termination grace period of a superseded pod. Kaniko does not
	// handle SIGTERM (it exits at once), so a short grace only leaves the kubelet time to confirm.
	supersededGrace = 1

	// stuckTerminating bounds how long a new pod waits for an old one that is being deleted: a
	// pod whose node is gone is never confirmed deleted, and must not block the build forever.
	stuckTerminating = 2 * time.Minute

	// otherPodsRecheck is how soon a build waiting for an old pod to stop looks again by itself;
	// the pod's deletion normally wakes it first.
	otherPodsRecheck = 5 * time.Second
)

// stopSupersededPods deletes the pods of older generations of this build that still run. It runs
// on every reconcile against the cache, so that a pod the cache shows late (created just before
// the spec changed) is stopped as soon as it appears.
func (r *ImageBuildReconciler) stopSupersededPods(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	pods, err := r.podsOf(ctx, ib, false)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	for i := range pods {
		if p := &pods[i]; podGeneration(p) < ib.Generation && holdsSlot(p) {
			if err := r.stopSuperseded(ctx, ib, p); err != nil {
				return ctrl.Result{}, true, err
			}
		}
	}
	return ctrl.Result{}, false, nil
}

// waitForOtherPods makes sure that no pod of this build other than the one named next still runs
// before that one is created, asking the API server itself: a pod created by the previous
// reconcile may not be in the cache yet. It stops those that are not being deleted already and
// reports waiting while any of them runs.
func (r *ImageBuildReconciler) waitForOtherPods(ctx context.Context, ib *buildv1.ImageBuild, next string) (ctrl.Result, bool, error) {
	pods, err := r.podsOf(ctx, ib, true)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	now := r.Clock.Now()
	var running []string
	for i := range pods {
		p := &pods[i]
		if p.Name == next || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || currentPlatformPod(ib, p) {
			continue
		}
		if p.DeletionTimestamp == nil {
			if err := r.stopSuperseded(ctx, ib, p); err != nil {
				return ctrl.Result{}, true, err
			}
		} else if now.After(p.DeletionTimestamp.Add(stuckTerminating)) {
			log.FromContext(ctx).Info("not waiting any longer for an old build pod that its node never confirmed deleted", "pod", p.Name)
			continue
		}
		running = append(running, p.Name)
	}
	if len(running) == 0 {
		return ctrl.Result{}, false, nil
	}
	setInProgress(ib, buildv1.PhasePending, buildv1.ReasonPending, fmt.Sprintf(
		"waiting for build pod %s to stop before pod %s starts, so that only the current generation pushes",
		strings.Join(running, ", "), next))
	return ctrl.Result{RequeueAfter: otherPodsRecheck}, true, nil
}

// currentPlatformPod reports a pod that builds another platform of the current generation: the
// platforms of a build run side by side.
func currentPlatformPod(ib *buildv1.ImageBuild, p *corev1.Pod) bool {
	if podGeneration(p) != ib.Generation {
		return false
	}
	for _, ps := range ib.Status.Platforms {
		if ps.PodName == p.Name {
			return true
		}
	}
	return false
}

// stopSuperseded deletes a pod that is not the current attempt of the current generation.
func (r *ImageBuildReconciler) stopSuperseded(ctx context.Context, ib *buildv1.ImageBuild, p *corev1.Pod) error {
	err := r.Delete(ctx, p, client.Preconditions{UID: &p.UID}, client.GracePeriodSeconds(supersededGrace))
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("stopping build pod %s: %w", p.Name, err)
	}
	if gen := podGeneration(p); gen < ib.Generation {
		r.Recorder.Eventf(ib, nil, corev1.EventTypeNormal, buildv1.ReasonSuperseded, "Stop",
			"stopped build pod %s of generation %d: generation %d replaces it", p.Name, gen, ib.Generation)
	}
	return nil
}

// podsOf lists the pods this build controls: from the cache, indexed by owner, or with fresh
// from the API server, by label.
func (r *ImageBuildReconciler) podsOf(ctx context.Context, ib *buildv1.ImageBuild, fresh bool) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	var err error
	if fresh {
		err = r.APIReader.List(ctx, list, client.InNamespace(ib.Namespace), client.MatchingLabels{
			buildv1.LabelManagedBy: buildv1.ManagedByValue, buildv1.LabelImageBuild: kubename.LabelValue(ib.Name)})
	} else {
		err = r.List(ctx, list, client.InNamespace(ib.Namespace), client.MatchingFields{podOwnerIndex: string(ib.UID)})
	}
	if err != nil {
		return nil, fmt.Errorf("listing the pods of ImageBuild %s/%s: %w", ib.Namespace, ib.Name, err)
	}
	pods := list.Items[:0]
	for _, p := range list.Items {
		if metav1.IsControlledBy(&p, ib) {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// podOwnerUID indexes a pod under the UID of the ImageBuild that controls it.
func podOwnerUID(o client.Object) []string {
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != buildv1.ImageBuildKind.Kind || !strings.HasPrefix(ref.APIVersion, buildv1.GroupVersion.Group+"/") {
		return nil
	}
	return []string{string(ref.UID)}
}

// podAttempt is the attempt a build pod is, from its label.
func podAttempt(p *corev1.Pod) int32 {
	a, err := strconv.ParseInt(p.Labels[buildv1.LabelAttempt], 10, 32)
	if err != nil {
		return 0
	}
	return int32(a)
}

// podGeneration is the ImageBuild generation a build pod builds, from its label.
func podGeneration(p *corev1.Pod) int64 {
	gen, err := strconv.ParseInt(p.Labels[buildv1.LabelGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return gen
}
