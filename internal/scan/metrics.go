package scan

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	inventoryPackages = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_scan_packages_total",
		Help: "Packages found by inventory scans.",
	})
	inventoryFileErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_scan_file_errors_total",
		Help: "Files an extractor could not parse during an inventory scan, by extractor.",
	}, []string{"extractor"})
	matchErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_scan_match_errors_total",
		Help: "Versions that could not be compared while matching (unparseable installed or advisory version), by ecosystem.",
	}, []string{"ecosystem"})
)

var imageUnsafeEntries = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_scan_image_unsafe_entries_total",
	Help: "Image layer entries skipped because they would leave the unpacking root or could not be written.",
})
