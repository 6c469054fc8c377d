package scan_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/sqlite"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// realCVEs reads the named records from the shared vulnrichment archive.
func realCVEs(t *testing.T, ids ...string) []*cve.Record {
	t.Helper()
	path := filepath.Join(vulndbtest.DataDir(t), "cve", "vulnrichment-records.tar.gz")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id+".json"] = true
	}
	var recs []*cve.Record
	tr := tar.NewReader(gz)
	for len(recs) < len(ids) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !want[filepath.Base(h.Name)] {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := cve.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != len(ids) {
		t.Fatalf("found %d of the records %v in %s", len(recs), ids, path)
	}
	return recs
}

// enrichStore is a SQLite store holding real records for CVEs of the
// shared lockfile findings and of one KEV-listed CVE, the real KEV catalog,
// and plainly synthetic EPSS scores (no real EPSS file is available).
func enrichStore(t *testing.T, ids []string) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.UpsertCVEs(ctx, realCVEs(t, ids...)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(vulndbtest.DataDir(t), "kev", "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := kev.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertKEV(ctx, cat.Version, cat.Entries); err != nil {
		t.Fatal(err)
	}
	var scores []epss.Score
	for i, id := range ids {
		scores = append(scores, epss.Score{CVEID: id, Score: float64(i+1) / 100, Percentile: 0.5, Date: time.Date(2024, 10, 24, 0, 0, 0, 0, time.UTC)})
	}
	if err := s.UpsertEPSS(ctx, scores); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreEnricherLockfiles(t *testing.T) {
	// CVEs of the gomod and pipenv-ci findings that the vulnrichment
	// snapshot holds, and CVE-2024-0769, which is in the KEV catalog.
	ids := []string{"CVE-2023-3978", "CVE-2023-45288", "CVE-2024-24786", "CVE-2024-41110", "CVE-2024-3651", "CVE-2024-21503", "CVE-2024-0769"}
	st := enrichStore(t, ids)
	db := openShared(t)
	lock := filepath.Join(vulndbtest.DataDir(t), "inventories", "lockfiles")
	var findings []scan.Finding
	for _, dir := range []string{"gomod", "pipenv-ci"} {
		findings = append(findings, scanDir(t, db, filepath.Join(lock, dir)).Findings...)
	}
	before := slices.Clone(findings)
	// A constructed finding known only by a GHSA ID whose alias is the
	// KEV-listed CVE.
	findings = append(findings, scan.Finding{AdvisoryID: "GHSA-test-kev0-0000", Aliases: []string{"CVE-2024-0769"}, Severity: scan.Severity{Level: scan.LevelUnknown}})

	ctx := context.Background()
	if err := scan.NewStoreEnricher(st, nil).Enrich(ctx, findings); err != nil {
		t.Fatal(err)
	}
	enriched := 0
	for i, f := range findings {
		var known []string
		for _, id := range append([]string{f.AdvisoryID}, f.Aliases...) {
			if slices.Contains(ids, id) {
				known = append(known, id)
			}
		}
		if len(known) == 0 {
			if f.Enrichment != nil {
				t.Errorf("%s: enriched without a stored CVE: %+v", f.AdvisoryID, f.Enrichment)
			}
			continue
		}
		enriched++
		en := f.Enrichment
		if en == nil {
			t.Errorf("%s (%v): not enriched", f.AdvisoryID, known)
			continue
		}
		if !slices.Equal(en.CVEs, known) {
			t.Errorf("%s: CVEs %v, want %v", f.AdvisoryID, en.CVEs, known)
		}
		d, err := st.GetCVE(ctx, known[0])
		if err != nil {
			t.Fatal(err)
		}
		// Every CVSS metric of the record, scored from its vector.
		var wantCVSS int
		for _, m := range d.Record.Metrics {
			if m.Format == cve.FormatCVSS {
				wantCVSS++
			}
		}
		if len(en.CVSS) != wantCVSS {
			t.Errorf("%s: %d CVSS metrics, record has %d", f.AdvisoryID, len(en.CVSS), wantCVSS)
		}
		for _, c := range en.CVSS {
			score, sev, err := cve.ScoreCVSS(c.Version, c.Vector)
			if err != nil || score != c.Score || sev != c.Level.String() {
				t.Errorf("%s: CVSS %s scored %v %s, ScoreCVSS says %v %s (%v)", f.AdvisoryID, c.Vector, c.Score, c.Level, score, sev, err)
			}
		}
		if i < len(before) && before[i].Severity.Source == "cvss" && f.Severity != before[i].Severity {
			t.Errorf("%s: advisory CVSS severity %+v replaced by %+v", f.AdvisoryID, before[i].Severity, f.Severity)
		}
		if (i >= len(before) || before[i].Severity.Source != "cvss") && len(en.CVSS) > 0 {
			if !strings.HasPrefix(f.Severity.Source, "cve:") || f.Severity.Score == 0 {
				t.Errorf("%s: severity %+v, want one from the CVE record's CVSS", f.AdvisoryID, f.Severity)
			}
			for _, c := range en.CVSS {
				if c.Score > f.Severity.Score {
					t.Errorf("%s: severity %v below the record's %s score %v", f.AdvisoryID, f.Severity.Score, c.Source, c.Score)
				}
			}
		}
		if d.EPSS == nil || en.EPSS == nil || en.EPSS.Score != d.EPSS.Score {
			t.Errorf("%s: EPSS %+v, store has %+v", f.AdvisoryID, en.EPSS, d.EPSS)
		}
		if (d.Record.SSVC != nil) != (en.SSVC != nil) || en.SSVC != nil && en.SSVC.Exploitation != d.Record.SSVC.Exploitation {
			t.Errorf("%s: SSVC %+v, record has %+v", f.AdvisoryID, en.SSVC, d.Record.SSVC)
		}
		switch {
		case d.KEV != nil:
			if en.KEV == nil || en.KEV.Source != "kev-catalog" || !en.KEV.DueDate.Equal(d.KEV.DueDate) || en.KEV.DueDate.IsZero() {
				t.Errorf("%s: KEV %+v, catalog entry %+v", f.AdvisoryID, en.KEV, d.KEV)
			}
		case d.Record.KEV != nil:
			if en.KEV == nil || en.KEV.Source != "cisa-adp" {
				t.Errorf("%s: KEV %+v, record says %+v", f.AdvisoryID, en.KEV, d.Record.KEV)
			}
		default:
			if en.KEV != nil {
				t.Errorf("%s: KEV %+v for a CVE not listed", f.AdvisoryID, en.KEV)
			}
		}
	}
	if enriched < len(ids) {
		t.Errorf("only %d findings carry a stored CVE; the test wants at least %d", enriched, len(ids))
	}
	last := findings[len(findings)-1]
	if last.Enrichment == nil || last.Enrichment.KEV == nil {
		t.Fatalf("KEV-listed CVE-2024-0769 not flagged: %+v", last.Enrichment)
	}
}

// failingStore fails every read.
type failingStore struct{ err error }

func (f failingStore) GetCVE(context.Context, string) (*store.CVEDetail, error) { return nil, f.err }

func TestStoreEnricherErrors(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name    string
		err     error
		wantErr error
	}{
		{"not found is not an error", store.ErrNotFound, nil},
		{"store failure", boom, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := []scan.Finding{{AdvisoryID: "GO-2024-3005", Aliases: []string{"CVE-2024-41110"}}, {AdvisoryID: "GO-2099-0001"}}
			err := scan.NewStoreEnricher(failingStore{tt.err}, nil).Enrich(context.Background(), fs)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			for _, f := range fs {
				if f.Enrichment != nil {
					t.Errorf("%s enriched: %+v", f.AdvisoryID, f.Enrichment)
				}
			}
		})
	}
}
