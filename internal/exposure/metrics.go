package exposure

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of the Scanner's decision about one image, the values of the
// outcome label of kubeward_exposure_image_scans_total.
const (
	outcomeSubmitted    = "submitted"    // a scan was queued
	outcomeFresh        = "fresh"        // a done scan younger than the interval exists
	outcomePending      = "pending"      // this scanner's earlier scan is still queued or running
	outcomeDeferred     = "deferred"     // over the round's bound or the queue is full: next round
	outcomeFailed       = "failed"       // Submit failed for another reason
	outcomeUnresolvable = "unresolvable" // the image names no scannable reference
)

var (
	imageScans = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_exposure_image_scans_total",
		Help: "Cluster images the periodic scanner considered, by outcome (submitted, fresh, pending, deferred, failed, unresolvable).",
	}, []string{"outcome"})
	roundErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_exposure_scan_round_errors_total",
		Help: "Periodic scan rounds that could not read the image inventory or the scan store.",
	})
)

func init() {
	for _, o := range []string{outcomeSubmitted, outcomeFresh, outcomePending, outcomeDeferred, outcomeFailed, outcomeUnresolvable} {
		imageScans.WithLabelValues(o)
	}
}
