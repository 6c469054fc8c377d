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

var imports = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_vulndb_imports_total",
	Help: "Database imports, by result: ok, or rejected (bad manifest, hash or size mismatch, corrupt file).",
}, []string{"result"})

var updatedRecords = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_vulndb_update_records_total",
	Help: "Advisory records changed by incremental updates, by change: added, updated, deleted.",
}, []string{"change"})
