package detect

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Stages of kubeward_detect_rule_load_failures_total.
const (
	StageLoad    = "load"
	StageCompile = "compile"
)

// Reasons for malformed events, the label of
// kubeward_detect_malformed_events_total.
const (
	ReasonInvalidJSON    = "invalid_json"
	ReasonUnknownShape   = "unknown_shape"
	ReasonNotAnEvent     = "not_an_event"
	ReasonTooLarge       = "too_large"
	ReasonBatchTooLarge  = "batch_too_large"
	ReasonUnknownSource  = "unknown_source"
	ReasonWrongMediaType = "wrong_media_type"
)

var (
	eventsProcessed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_detect_events_processed_total",
		Help: "Events evaluated by the detection rule engine, by source.",
	}, []string{"source"})
	detectionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_detect_detections_total",
		Help: "Detections raised, by rule and priority.",
	}, []string{"rule", "priority"})
	malformedEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_detect_malformed_events_total",
		Help: "Events rejected before evaluation, by reason.",
	}, []string{"reason"})
	evalSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_detect_evaluation_duration_seconds",
		Help:    "Time to evaluate one event against all rules of its source.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
	}, []string{"source"})
	ruleLoadFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_detect_rule_load_failures_total",
		Help: "Rule sets that could not be used, by stage: load (YAML, structure, overrides) or compile (conditions, fields, outputs).",
	}, []string{"stage"})
	ruleWarnings = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_detect_rule_warnings_total",
		Help: "Problems tolerated while loading rule sets (skipped rules of unknown sources, unsupported plugin versions, ...).",
	})
	publishErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_detect_publish_errors_total",
		Help: "Batches of detections the bus refused.",
	})
)

// CountMalformed records an event rejected for reason (one of the Reason
// constants); adapters call it for input they cannot decode.
func CountMalformed(reason string) { malformedEvents.WithLabelValues(reason).Inc() }
