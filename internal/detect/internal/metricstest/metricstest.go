// Package metricstest reads the detection engine's Prometheus counters
// from the default registry, so tests can assert that bad input was
// counted.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Counter returns the sum of the counter series named name whose labels
// include every pair of labels (nil or empty matches all series). A
// counter that was never incremented reads 0.
func Counter(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		tb.Fatalf("gathering metrics: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m.GetLabel(), labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

type labelPair interface {
	GetName() string
	GetValue() string
}

func matches[L labelPair](got []L, want map[string]string) bool {
	n := 0
	for _, l := range got {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
