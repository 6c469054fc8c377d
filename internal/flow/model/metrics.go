package model

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var metricLoadFailures = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_flow_model_load_failures_total",
	Help: "Flow model files rejected by Load (wrong format or version, unknown features, invalid trees).",
})
