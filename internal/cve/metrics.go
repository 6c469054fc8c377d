package cve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	// parseErrors counts records Parse rejected, by reason (the sentinel
	// error kind).
	parseErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_parse_errors_total",
		Help: "CVE records that could not be parsed, by reason.",
	}, []string{"reason"})
	// cvssVectorErrors counts CVSS vectors that could not be scored (the
	// record is kept with the reported score), by CVSS version.
	cvssVectorErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_cvss_vector_errors_total",
		Help: "CVSS vector strings in CVE records that could not be parsed; the reported score was used instead.",
	}, []string{"version"})
)
