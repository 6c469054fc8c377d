package audit

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	objectsAudited = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_policyaudit_objects_audited_total",
		Help: "Live objects evaluated by the background policy audit.",
	})
	objectsRejected = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_policyaudit_objects_rejected_total",
		Help: "Live objects the background policy audit could not decode and skipped.",
	})
	resultsByOutcome = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_policyaudit_results_total",
		Help: "Policy results produced by the background audit, by outcome.",
	}, []string{"outcome"})
	resultsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_policyaudit_results_dropped_total",
		Help: "Policy results left out of reports to keep them within bounds (still counted in the summary).",
	})
	reportBytes = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubeward_policyaudit_report_bytes",
		Help:    "JSON size of each policy report written.",
		Buckets: prometheus.ExponentialBuckets(1024, 4, 7),
	})
	auditDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubeward_policyaudit_duration_seconds",
		Help:    "Duration of one full background audit pass.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
	})
	auditFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_policyaudit_failures_total",
		Help: "Background audit passes that failed (see the log for why).",
	})
)
