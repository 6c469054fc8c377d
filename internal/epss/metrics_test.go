package epss

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestMetrics checks that bad rows and failed reads are counted, on a
// synthetic file.
func TestMetrics(t *testing.T) {
	value := func(c interface{ Write(*dto.Metric) error }) float64 {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	b0, r0 := value(badRows), value(readErrors)
	in := "cve,epss\nCVE-2020-0001,0.5\nbad,1\nCVE-2020-0002,2\n"
	if _, err := (Reader{SkipBadRows: true}).Read(strings.NewReader(in), func(Score) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(strings.NewReader(in), func(Score) error { return nil }); err == nil {
		t.Fatal("want an error")
	}
	if d := value(badRows) - b0; d != 3 {
		t.Errorf("bad row counter grew by %v, want 3", d)
	}
	if d := value(readErrors) - r0; d != 1 {
		t.Errorf("read error counter grew by %v, want 1", d)
	}
}
