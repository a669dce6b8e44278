package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// buildDuration measures finished builds from pod creation to completion, by result, so that
	// slow registries or growing images show up as a shifting histogram rather than anecdotes.
	buildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "flowbuild_build_duration_seconds",
		Help:    "Duration of finished image builds, from build pod creation to completion.",
		Buckets: []float64{5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600},
	}, []string{"result"})

	// buildResults counts finished builds by the reason vocabulary of the Ready condition.
	buildResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowbuild_builds_total",
		Help: "Finished image builds by result (Succeeded or Failed) and reason.",
	}, []string{"result", "reason"})

	// activeBuilds is the number of build pods the manager counts against its concurrency cap.
	activeBuilds = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flowbuild_active_builds",
		Help: "Build pods currently running or starting.",
	})
)

func init() {
	metrics.Registry.MustRegister(buildDuration, buildResults, activeBuilds)
}
