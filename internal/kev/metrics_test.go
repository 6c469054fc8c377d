package kev

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestMetrics checks that unusable catalogs and invalid entry fields are
// counted.
func TestMetrics(t *testing.T) {
	cveID := invalidEntries.WithLabelValues("cveID")
	p0, c0 := counterValue(t, parseErrors), counterValue(t, cveID)
	if _, err := Parse(strings.NewReader("not JSON")); err == nil {
		t.Fatal("want an error")
	}
	f, err := os.Open("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Parse(f); err != nil {
		t.Fatal(err)
	}
	if d := counterValue(t, parseErrors) - p0; d != 1 {
		t.Errorf("parse error counter grew by %v, want 1", d)
	}
	// testdata/catalog.json has a malformed and a repeated cveID.
	if d := counterValue(t, cveID) - c0; d != 2 {
		t.Errorf("invalid cveID counter grew by %v, want 2", d)
	}
}
