package respond

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	transitionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_respond_action_transitions_total",
		Help: "Response action state transitions, by the state entered.",
	}, []string{"state"})
	invalidTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_respond_invalid_requests_total",
		Help: "Action requests rejected as invalid before anything was recorded, by requested kind.",
	}, []string{"kind"})
)
