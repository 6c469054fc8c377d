package feed

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	recordsPublished = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_cve_feed_records_published_total",
		Help: "CVE records published on the cve.records topic by the feed producer and ingest.",
	})
	rejectedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_feed_rejected_total",
		Help: "Feed entries refused by the archive reader and sent to the dead-letter topic, by reason.",
	}, []string{"reason"})
	assetsApplied = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_feed_assets_applied_total",
		Help: "Feed assets applied completely, by kind (baseline, delta).",
	}, []string{"kind"})
	errorsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_feed_errors_total",
		Help: "Feed producer errors, by stage (list, download, archive, publish, state).",
	}, []string{"stage"})
	lastSuccess = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "kubeward_cve_feed_last_success_timestamp_seconds",
		Help: "Unix time of the last successful feed sync.",
	})
	syncDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubeward_cve_feed_sync_duration_seconds",
		Help:    "Duration of feed syncs.",
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
	})
)
