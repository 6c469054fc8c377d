package sbom

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	readErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_sbom_read_errors_total",
		Help: "SBOM documents that could not be decoded, by format (cyclonedx, spdx, unknown).",
	}, []string{"format"})
	skippedComponents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_sbom_skipped_components_total",
		Help: "SBOM components or packages without a usable package URL, by format.",
	}, []string{"format"})
)
