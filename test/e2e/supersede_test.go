//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

// A spec change while Kaniko builds: the old generation's pod is stopped, and the tag in the
// registry ends up at the digest the status reports. The old generation is made the slow one, so
// that without the cancellation it would push last and move the tag away from the status.
func TestE2E_SpecChangeMidBuild(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"ARG VERSION=1\n"+
		"RUN if [ \"$VERSION\" = 1 ]; then sleep 25; fi; echo \"$VERSION\" > /version\n")
	r := flow(t, dir, registryEnv("supersede-"+runID), "build", "--push", "--no-cache", "--no-wait", "--tag", "s1", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	first := waitBuild(t, ns, 3*time.Minute, "Kaniko to run the slow RUN", func(ib *buildv1.ImageBuild) bool {
		for _, p := range buildPods(t, ns) {
			if p.Status.Phase == corev1.PodRunning && strings.Contains(kanikoLog(t, ns, p.Name), "Running: [/bin/sh -c if") {
				return true
			}
		}
		return false
	})
	oldPod := first.Status.PodName

	changed := time.Now()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ib := &buildv1.ImageBuild{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(first), ib); err != nil {
			return err
		}
		ib.Spec.BuildArgs = append(ib.Spec.BuildArgs, buildv1.BuildArg{Name: "VERSION", Value: "2"})
		return k8s.Update(context.Background(), ib)
	})
	if err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, time.Minute, "the superseded pod to stop", func() (bool, string) {
		p := &corev1.Pod{}
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: oldPod}, p)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return p.DeletionTimestamp != nil, fmt.Sprintf("phase %s, get: %v", p.Status.Phase, err)
	})
	t.Logf("superseded pod stopping %s after the spec change", time.Since(changed).Round(time.Millisecond))

	ib := waitBuild(t, ns, 3*time.Minute, "generation 2 to finish", func(ib *buildv1.ImageBuild) bool {
		return ib.Generation == 2 && ib.Status.ObservedGeneration == 2 && ib.Status.Phase.Finished()
	})
	if ib.Status.Phase != buildv1.PhaseSucceeded || ib.Status.Output == nil {
		t.Fatalf("generation 2: phase %s %+v", ib.Status.Phase, readyCondition(ib))
	}
	// Had the old pod gone on, it would have pushed by now (it sleeps 25 s from before the change).
	poll.Eventually(t, time.Minute, "no pod of generation 1 left running", func() (bool, string) {
		for _, p := range buildPods(t, ns) {
			if p.Labels[buildv1.LabelGeneration] == "1" && (p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodRunning) {
				return false, fmt.Sprintf("%s is %s", p.Name, p.Status.Phase)
			}
		}
		return true, ""
	})
	if got := registryDigest(t, ib.Spec.Image+":s1"); got != ib.Status.Output.Digest {
		t.Errorf("the registry's s1 is %s, status.output.digest says %s", got, ib.Status.Output.Digest)
	}
	t.Logf("generation 2 succeeded %s after the spec change, digest %s", time.Since(changed).Round(time.Millisecond), ib.Status.Output.Digest)
}
