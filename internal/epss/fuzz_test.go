package epss

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kubeward/kubeward/internal/cve"
)

// FuzzRead checks that Read never panics, that skip mode never returns a
// row error, and that every score it passes on is valid. Seeds are
// synthetic (no real EPSS file is available offline): f.Add below and the
// corpus in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add(syntheticFile(syntheticComment, syntheticRows(3)))
	f.Add(gzipped(f, syntheticFile(syntheticComment, syntheticRows(3))))
	f.Add([]byte("cve,epss\nCVE-2020-0001,0.5\nbad,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(s Score) error {
			if !cve.ValidID(s.CVEID) || !(s.Score >= 0 && s.Score <= 1) || !(s.Percentile >= 0 && s.Percentile <= 1) {
				t.Fatalf("invalid score passed on: %+v", s)
			}
			return nil
		}
		meta, err := Read(bytes.NewReader(data), check)
		if err == nil && meta.BadRows != 0 {
			t.Fatalf("stop mode skipped %d rows", meta.BadRows)
		}
		meta, err = Reader{SkipBadRows: true}.Read(bytes.NewReader(data), check)
		if errors.Is(err, ErrBadRow) && !errors.Is(err, ErrTooManyBadRows) {
			t.Fatalf("skip mode returned a row error: %v", err)
		}
		if len(meta.Errors) > MaxReportedErrors || len(meta.Errors) > meta.BadRows {
			t.Fatalf("%d errors reported for %d bad rows", len(meta.Errors), meta.BadRows)
		}
	})
}
