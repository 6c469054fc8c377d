package job_test

import (
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/scan/job"
)

// FuzzParseImage checks that ParseImage never panics, never accepts a
// file path, and that what it returns is a fixed point.
func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"alpine", "alpine:3.20", "ghcr.io/org/app@sha256:" + strings.Repeat("0", 64), "/etc/passwd", "./x.tar", "a/../b", "localhost:5000/x", "UPPER", "", "a:b:c", `C:\x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := job.ParseImage(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") || strings.Contains(ref, "..") {
			t.Fatalf("ParseImage(%q) accepted a path: %q", s, ref)
		}
		again, err := job.ParseImage(ref)
		if err != nil || again != ref {
			t.Fatalf("ParseImage(%q) = %q, which parses to %q, %v", s, ref, again, err)
		}
	})
}

// FuzzDecodeMessage checks that DecodeMessage never panics and that what
// it accepts has the members the alert pipeline needs.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"scan_id":"s","kind":"image","target":"t","time":"2026-11-23T09:00:00Z","finding":{"package":{"name":"p","version":"1"},"advisory_id":"A","severity":{"level":"HIGH"}}}`))
	f.Add([]byte(`{"scan_id":"s","target":"t","time":"2026-11-23T09:00:00Z","finding":{"package":{"name":"p"},"advisory_id":"A","severity":{"level":"x"},"enrichment":{"cvss":[{"level":"LOW"}]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := job.DecodeMessage(b)
		if err != nil {
			return
		}
		if m.ScanID == "" || m.Target == "" || m.Time.IsZero() || m.Finding.AdvisoryID == "" || m.Finding.Package.Name == "" {
			t.Fatalf("accepted an incomplete message: %+v", m)
		}
	})
}
