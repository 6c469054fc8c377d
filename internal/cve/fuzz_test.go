package cve

import (
	"bytes"
	"errors"
	"math"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that every failure is a
// *ParseError of exactly one kind, and that every success is a
// consistent record that PeekID agrees with. Seeds: the hand-written
// records in testdata/records, the corpus in testdata/fuzz/FuzzParse and
// two real records cut from the vulnrichment snapshot at test time.
func FuzzParse(f *testing.F) {
	f.Add(minimal())
	f.Add(minimal(`"5.1"`, `"5.0"`, `PUBLISHED`, `REJECTED`))
	f.Add([]byte(`{"dataType":"CVE_RECORD","dataVersion":"5.2","cveMetadata":{"cveId":"CVE-2099-0002","state":"REJECTED"},"containers":{"cna":{"rejectedReasons":[{"lang":"en","value":"dup"}]}}}`))
	if data, err := os.ReadFile("testdata/records/CVE-2099-0001.json"); err == nil {
		f.Add(data)
	} else {
		f.Fatal(err)
	}
	for _, data := range loadRecords(f, "CVE-2024-3514", "CVE-2023-34424") {
		f.Add(data)
	}
	kinds := []error{ErrMalformedJSON, ErrNotCVERecord, ErrUnsupportedVersion, ErrMissingID, ErrInvalidField}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		rec, err := Parse(data)
		if !bytes.Equal(in, data) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			n := 0
			for _, k := range kinds {
				if errors.Is(err, k) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v wraps %d kinds, want 1", err, n)
			}
			_ = err.Error()
			return
		}
		if !ValidID(rec.ID) || (rec.State != StatePublished && rec.State != StateRejected) {
			t.Fatalf("parsed an invalid record: %q %q", rec.ID, rec.State)
		}
		if !bytes.Equal(rec.Raw, data) {
			t.Fatal("Raw is not the input")
		}
		if id, err := PeekID(data); err != nil || id != rec.ID {
			t.Fatalf("PeekID = %q, %v; Parse found %q", id, err, rec.ID)
		}
		for _, m := range rec.Metrics {
			if m.Format != FormatCVSS {
				continue
			}
			if m.BaseScore < 0 || m.BaseScore > 10 || math.IsNaN(m.BaseScore) {
				t.Fatalf("CVSS metric with score %v outside [0, 10]", m.BaseScore)
			}
			if m.Error == "" && m.Severity == "" {
				t.Fatalf("scored CVSS metric %q without severity", m.Vector)
			}
		}
		_, _ = rec.MaxSeverity()
		_ = rec.CWEs()
		_ = rec.EnglishDescription()
	})
}
