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

var imageUnsafeEntries = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_scan_image_unsafe_entries_total",
	Help: "Image layer entries skipped, by reason: traversal (the path or a blob name leaves the root), hardlink (a hard-link trick), unwritable (os.Root refused the write, e.g. through an escaping symbolic link).",
}, []string{"reason"})

var imageLimitExceeded = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_scan_image_limit_exceeded_total",
	Help: "Images refused because their layers exceeded the unpack limits, by limit (bytes, files).",
}, []string{"limit"})

var enrichMisses = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_scan_enrich_misses_total",
	Help: "CVE IDs of findings that the CVE store does not hold, so the finding was not enriched from them.",
})

var suppressionErrors = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_scan_suppression_file_errors_total",
	Help: "VEX documents (kind=vex) and ignore files (kind=ignore) that could not be read.",
}, []string{"kind"})
