package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// pendingExpiry is how long a pod created by this manager counts against the cap before the cache
// must have shown it; after that, the cache is the truth again.
const pendingExpiry = time.Minute

// slotTracker enforces the cap on concurrent build pods (Kaniko builds are memory and I/O heavy,
// and twenty of them at once are slower than twenty in a row).
//
// Usage is recomputed from the pod cache on every request rather than counted up and down, so it
// heals by itself when pods finish or vanish while the manager is down. Pods this manager created
// moments ago may not be in the cache yet; they are remembered for a short while so that parallel
// reconciles cannot overshoot the cap.
type slotTracker struct {
	max    int
	reader client.Reader
	clock  clock.PassiveClock

	mu      sync.Mutex
	pending map[string]time.Time
}

// acquire reports whether the pod named key ("namespace/name") may be created now, and reserves its
// slot when it may.
func (s *slotTracker) acquire(ctx context.Context, key string) (bool, error) {
	if s.max <= 0 {
		return true, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	pods := &corev1.PodList{}
	if err := s.reader.List(ctx, pods, client.MatchingLabels{buildv1.LabelManagedBy: buildv1.ManagedByValue}); err != nil {
		return false, fmt.Errorf("counting running build pods: %w", err)
	}
	active, seen := map[string]bool{}, map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		seen[p.Namespace+"/"+p.Name] = true
		if holdsSlot(p) {
			active[p.Namespace+"/"+p.Name] = true
		}
	}
	if s.pending == nil {
		s.pending = map[string]time.Time{}
	}
	for k, t := range s.pending {
		// Once the cache shows the pod, it counts (or no longer counts) by itself: a build that
		// finished before the next request saw it running must not keep its slot for a minute.
		if seen[k] || s.clock.Since(t) > pendingExpiry {
			delete(s.pending, k)
		}
	}
	used := len(active) + len(s.pending)
	activeBuilds.Set(float64(used))
	if active[key] {
		return true, nil
	}
	if _, ok := s.pending[key]; ok {
		return true, nil
	}
	if used >= s.max {
		return false, nil
	}
	s.pending[key] = s.clock.Now()
	activeBuilds.Set(float64(used + 1))
	return true, nil
}

// holdsSlot reports whether a build pod counts against the cap: until it has finished or is
// being deleted.
func holdsSlot(o client.Object) bool {
	p, ok := o.(*corev1.Pod)
	return ok && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// forget gives back a slot reserved for a pod that could not be created.
func (s *slotTracker) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, key)
}
