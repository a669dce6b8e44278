package controllers_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/manager"
)

// BenchmarkIntegrationScale1000 reconciles 1,000 ImageBuilds against envtest: every one gets its pod
// and its Building status, then every pod finishes and every build records its digest. It reports
// the time per build and the manager's heap after the run, which must stay bounded (the pod cache
// holds build pods only, Secrets are never cached).
//
//	KUBEBUILDER_ASSETS=$(hack/kube-binaries.sh envtest) go test ./controllers/ -run '^$' -bench Scale -benchtime 1x
func BenchmarkIntegrationScale1000(b *testing.B) {
	if restCfg == nil {
		b.Skip("needs KUBEBUILDER_ASSETS (make bench)")
	}
	const n = 1000
	for range b.N {
		e := &testEnv{t: b}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-scale-"}}
		if err := k8s.Create(context.Background(), ns); err != nil {
			b.Fatal(err)
		}
		e.ns = ns.Name
		e.opts = manager.Options{
			MetricsAddr: "0", ProbeAddr: "0", ExecutorImage: "executor:test", FetcherImage: "fetcher:test",
			MaxConcurrentBuilds: 0, MaxConcurrentReconciles: 8, MaxAttempts: 3, PushRetry: 2,
			Namespaces: []string{ns.Name}, SkipNameValidation: true, QPS: 500, Burst: 1000,
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		start := time.Now()
		e.startManager()
		for i := range n {
			ib := e.build(fmt.Sprintf("b%04d", i), nil)
			if err := k8s.Create(context.Background(), ib); err != nil {
				b.Fatal(err)
			}
		}
		waitCount(b, e.ns, n, func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase == buildv1.PhaseBuilding })
		building := time.Since(start)

		pods := &corev1.PodList{}
		if err := k8s.List(context.Background(), pods, client.InNamespace(e.ns)); err != nil {
			b.Fatal(err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = terminatedStatuses(p.Spec.Containers, 0, digest, "Completed")
			if err := k8s.Status().Update(context.Background(), p); err != nil {
				b.Fatal(err)
			}
		}
		waitCount(b, e.ns, n, func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase == buildv1.PhaseSucceeded })
		total := time.Since(start)

		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		e.stopManager()
		_ = k8s.Delete(context.Background(), ns)

		b.ReportMetric(float64(building.Milliseconds())/n, "ms/build-to-pod")
		b.ReportMetric(float64(total.Milliseconds())/n, "ms/build-end-to-end")
		b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "MiB-heap-after")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-heap-growth")
	}
}

func waitCount(b *testing.B, ns string, n int, ok func(*buildv1.ImageBuild) bool) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		list := &buildv1.ImageBuildList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		count := 0
		for i := range list.Items {
			if ok(&list.Items[i]) {
				count++
			}
		}
		if count == n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatalf("timed out waiting for %d builds", n)
}
