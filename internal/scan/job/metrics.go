package job

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	jobsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_scan_jobs_total",
		Help: "Scans that ended, by state (done, failed; interrupted scans marked failed at start included).",
	}, []string{"state"})
	rejections = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_scan_job_rejections_total",
		Help: "Scan requests refused, by reason (invalid, unsupported, queue_full, too_large, error).",
	}, []string{"reason"})
	queueDepth = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "kubeward_scan_jobs_queued",
		Help: "Scans accepted and waiting for a worker.",
	})
	duration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubeward_scan_job_duration_seconds",
		Help:    "Time from a scan's start to its stored report.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
	})
	published = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_scan_findings_published_total",
		Help: "Finding messages published on the scan.findings topic.",
	})
	publishErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_scan_findings_publish_errors_total",
		Help: "Done scans whose findings could not be published (they are republished at the next start).",
	})
)

// rejectReason is the rejections label of a Submit error.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrUnsupported):
		return "unsupported"
	case errors.Is(err, ErrQueueFull):
		return "queue_full"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	}
	return "error"
}
