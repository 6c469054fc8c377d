package crowdsec

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_crowdsec_requests_total",
		Help: "Local API requests by endpoint (decisions, stream) and HTTP status code.",
	}, []string{"endpoint", "code"})
	rejectedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_crowdsec_rejected_requests_total",
		Help: "Local API requests rejected, by endpoint and reason (forbidden, invalid_filter).",
	}, []string{"endpoint", "reason"})
)
