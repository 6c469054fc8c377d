package cve

import (
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

// TestMetrics checks that rejected records and unscorable vectors are
// counted.
func TestMetrics(t *testing.T) {
	missing := parseErrors.WithLabelValues("missing_id")
	malformed := parseErrors.WithLabelValues("malformed_json")
	vectors := cvssVectorErrors.WithLabelValues(CVSSv31)
	m0, f0, v0 := counterValue(t, missing), counterValue(t, malformed), counterValue(t, vectors)
	if _, err := Parse(minimal(`CVE-2024-12345`, `CVE-1`)); err == nil {
		t.Fatal("want an error")
	}
	if _, err := PeekID([]byte(`{`)); err == nil {
		t.Fatal("want an error")
	}
	if _, err := Parse(minimal(`A:H"`, `A:Q"`)); err != nil {
		t.Fatal(err)
	}
	if d := counterValue(t, missing) - m0; d != 1 {
		t.Errorf("missing_id counter grew by %v, want 1", d)
	}
	if d := counterValue(t, malformed) - f0; d != 1 {
		t.Errorf("malformed_json counter grew by %v, want 1", d)
	}
	if d := counterValue(t, vectors) - v0; d != 1 {
		t.Errorf("CVSS vector error counter grew by %v, want 1", d)
	}
}
