package vulndb

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	recordsImported = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_vulndb_records_imported_total",
		Help: "Advisory records written to a vulnerability database, by source kind.",
	}, []string{"kind"})
	recordsRejected = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_vulndb_records_rejected_total",
		Help: "Advisory files or entries rejected while building a vulnerability database, by source kind and reason.",
	}, []string{"kind", "reason"})
)
