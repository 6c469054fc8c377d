package store

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	upsertRecords = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_store_cve_upserts_total",
		Help: "CVE records passed to UpsertCVEs, by backend and result (written, skipped, invalid).",
	}, []string{"backend", "result"})
	opDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_store_operation_duration_seconds",
		Help:    "Duration of store operations, by backend, operation and outcome (ok, error).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"backend", "operation", "outcome"})
)

// ObserveUpsert records the outcome of one UpsertCVEs call of n records in
// the store metrics. Backends call it; err is the call's error, if any.
func ObserveUpsert(backend string, n int, res UpsertResult, err error, started time.Time) {
	switch {
	case err != nil && isInvalid(err):
		upsertRecords.WithLabelValues(backend, "invalid").Add(float64(n))
	case err == nil:
		upsertRecords.WithLabelValues(backend, "written").Add(float64(res.Written))
		upsertRecords.WithLabelValues(backend, "skipped").Add(float64(res.Skipped))
	}
	ObserveOperation(backend, "upsert_cves", err, started)
}

// ObserveOperation records the duration of one store operation.
func ObserveOperation(backend, operation string, err error, started time.Time) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	opDuration.WithLabelValues(backend, operation, outcome).Observe(time.Since(started).Seconds())
}
