package admission

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	reviewDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_admission_review_duration_seconds",
		Help:    "Time to decide one AdmissionReview, by decision, kind and operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"decision", "kind", "operation"})
	policyDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_admission_policy_evaluation_duration_seconds",
		Help:    "Time to evaluate one policy on one admission request, by policy, decision, kind and operation.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
	}, []string{"policy", "decision", "kind", "operation"})
	badRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_admission_bad_requests_total",
		Help: "Admission requests rejected as malformed, by reason.",
	}, []string{"reason"})
	evalErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_admission_evaluation_errors_total",
		Help: "Policy evaluations that failed with an error, by policy.",
	}, []string{"policy"})
	publishErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_admission_publish_errors_total",
		Help: "Policy violations that could not be published on the bus.",
	})
)
