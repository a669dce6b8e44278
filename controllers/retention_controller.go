package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// RetentionReconciler deletes finished ImageBuilds once spec.ttlSecondsAfterFinished has passed. It is
// its own controller so that the build controller never deletes what it reconciles.
type RetentionReconciler struct {
	client.Client
	// Clock tells the time; nil means the real clock. Tests move a fake one.
	Clock clock.PassiveClock
}

// Reconcile deletes a finished build whose TTL expired, or asks to be called again when it will.
func (r *RetentionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ib := &buildv1.ImageBuild{}
	if err := r.Get(ctx, req.NamespacedName, ib); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	expiry, ok := expiresAt(ib)
	if !ok || !ib.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	if wait := expiry.Sub(r.Clock.Now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	// The UID precondition keeps a quickly recreated build of the same name alive.
	if err := r.Delete(ctx, ib, client.Preconditions{UID: &ib.UID}, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("deleting expired ImageBuild: %w", err)
	}
	log.FromContext(ctx).Info("deleted finished build after its TTL", "ttlSecondsAfterFinished", *ib.Spec.TTLSecondsAfterFinished)
	return ctrl.Result{}, nil
}

// expiresAt is when a finished build of the current generation may be deleted.
func expiresAt(ib *buildv1.ImageBuild) (time.Time, bool) {
	ttl := ib.Spec.TTLSecondsAfterFinished
	if ttl == nil || ib.Status.CompletionTime == nil || !ib.Status.Phase.Finished() ||
		ib.Status.ObservedGeneration != ib.Generation {
		return time.Time{}, false
	}
	return ib.Status.CompletionTime.Add(time.Duration(*ttl) * time.Second), true
}

// SetupWithManager registers the retention controller.
func (r *RetentionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&buildv1.ImageBuild{}).
		Named("imagebuild-retention").
		Complete(r)
}
