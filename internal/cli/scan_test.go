package cli

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/cve/feedtest"
)

// scanReport is the part of `scan -o json` the tests read.
type scanReport struct {
	Packages []struct{ Name, Version, Ecosystem string }
	Findings []struct {
		AdvisoryID string `json:"advisory_id"`
		Severity   struct{ Level, Source string }
		Enrichment *struct {
			CVEs []string
			SSVC *struct{ Exploitation string }
		}
	}
}

func decodeReport(t *testing.T, out string) scanReport {
	t.Helper()
	var r scanReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("scan output is not a JSON report: %v\n%s", err, out)
	}
	return r
}

func advisories(r scanReport) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.AdvisoryID)
	}
	slices.Sort(ids)
	return ids
}

// extractCVE copies one record out of the shared vulnrichment archive
// into dir.
func extractCVE(t *testing.T, data, id, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(data, "cve", "vulnrichment-records.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s not in the vulnrichment archive", id)
		}
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(h.Name) != id+".json" {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, id+".json"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
}

func TestScanCommands(t *testing.T) {
	data, err := feedtest.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vdb := filepath.Join(dir, "vuln.db")
	osv := filepath.Join(data, "osv")
	if _, code := run(t, "--log-level", "warn", "db", "build", "--out", vdb,
		"--osv", filepath.Join(osv, "golang-vulndb-osv.tar.gz"), "--osv", filepath.Join(osv, "pypa-advisories-osv-yaml.tar.gz"),
		"--alpine", filepath.Join(osv, "alpine-secdb.tar.gz")); code != ExitOK {
		t.Fatalf("db build exit %d", code)
	}
	lock := filepath.Join(data, "inventories", "lockfiles")

	for _, format := range []string{"cyclonedx", "spdx"} {
		t.Run("sbom "+format, func(t *testing.T) {
			for _, sub := range []string{"gomod", "pipenv-ci"} {
				direct, code := run(t, "scan", "fs", "--vulndb", vdb, "-o", "json", filepath.Join(lock, sub))
				if code != ExitOK {
					t.Fatalf("scan fs exit %d", code)
				}
				doc, code := run(t, "scan", "fs", "--vulndb", vdb, "-o", format, filepath.Join(lock, sub))
				if code != ExitOK {
					t.Fatalf("scan fs -o %s exit %d", format, code)
				}
				file := filepath.Join(dir, sub+"."+format+".json")
				if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
				viaSBOM, code := run(t, "scan", "sbom", "--vulndb", vdb, "-o", "json", file)
				if code != ExitOK {
					t.Fatalf("scan sbom exit %d", code)
				}
				want, got := decodeReport(t, direct), decodeReport(t, viaSBOM)
				if len(want.Findings) == 0 || !slices.Equal(advisories(got), advisories(want)) {
					t.Errorf("%s: SBOM scan found %v, lockfile scan %v", sub, advisories(got), advisories(want))
				}
				if _, code := run(t, "scan", "sbom", "--vulndb", vdb, "--fail-on", "unknown", file); code != ExitFindings {
					t.Errorf("%s: --fail-on unknown exit %d, want %d", sub, code, ExitFindings)
				}
			}
		})
	}

	t.Run("suppress", func(t *testing.T) {
		gomod := filepath.Join(lock, "gomod")
		all, code := run(t, "scan", "fs", "--vulndb", vdb, "-o", "json", gomod)
		if code != ExitOK {
			t.Fatalf("scan exit %d", code)
		}
		ids := advisories(decodeReport(t, all))
		vexFile := filepath.Join(dir, "app.vex.json")
		vexDoc := `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"test","timestamp":"2026-11-01T00:00:00Z","version":1,
			"statements":[{"vulnerability":{"name":"CVE-2021-44716"},"products":[{"@id":"pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495"}],
			"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`
		ignore := filepath.Join(dir, "ignore")
		if err := os.WriteFile(vexFile, []byte(vexDoc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ignore, []byte("# accepted\nCVE-2024-41110 # docker authz plugin not used\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := run(t, "scan", "fs", "--vulndb", vdb, "-o", "json", "--vex", vexFile, "--ignore-file", ignore, gomod)
		if code != ExitOK {
			t.Fatalf("scan exit %d", code)
		}
		var rep struct {
			Findings []struct {
				AdvisoryID string `json:"advisory_id"`
			}
			Suppressed []struct {
				AdvisoryID  string `json:"advisory_id"`
				Suppression struct{ Source, Status string }
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Suppressed) != 2 || len(rep.Findings) != len(ids)-2 {
			t.Fatalf("%d open, %d suppressed; want %d and 2", len(rep.Findings), len(rep.Suppressed), len(ids)-2)
		}
		got := map[string]string{}
		for _, s := range rep.Suppressed {
			got[s.AdvisoryID] = s.Suppression.Source + " " + s.Suppression.Status
		}
		if got["GO-2022-0288"] != vexFile+" not_affected" || got["GO-2024-3005"] != ignore+" " {
			t.Errorf("suppressed %v", got)
		}
		// Ignoring every finding makes --fail-on pass.
		everything := filepath.Join(dir, "everything")
		if err := os.WriteFile(everything, []byte(strings.Join(ids, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, code := run(t, "scan", "fs", "--vulndb", vdb, "--fail-on", "unknown", "--ignore-file", everything, gomod); code != ExitOK {
			t.Errorf("--fail-on with every finding ignored: exit %d", code)
		}
		if _, code := run(t, "scan", "fs", "--vulndb", vdb, "--ignore-file", filepath.Join(dir, "missing"), gomod); code != ExitError {
			t.Errorf("missing ignore file: exit %d, want %d", code, ExitError)
		}
	})

	t.Run("enrich", func(t *testing.T) {
		recs := filepath.Join(dir, "records")
		if err := os.MkdirAll(recs, 0o700); err != nil {
			t.Fatal(err)
		}
		// GO-2024-3005 (github.com/docker/docker in the gomod lockfile) is
		// CVE-2024-41110; the Go advisory has no CVSS vector, the CVE
		// record has one and a CISA-ADP SSVC decision.
		extractCVE(t, data, "CVE-2024-41110", recs)
		store := "sqlite://" + filepath.Join(dir, "store.db")
		if _, code := run(t, "--db", store, "--log-level", "warn", "cve", "ingest", recs); code != ExitOK {
			t.Fatalf("cve ingest exit %d", code)
		}
		out, code := run(t, "--db", store, "scan", "fs", "--enrich", "--vulndb", vdb, "-o", "json", filepath.Join(lock, "gomod"))
		if code != ExitOK {
			t.Fatalf("scan --enrich exit %d", code)
		}
		var hit bool
		for _, f := range decodeReport(t, out).Findings {
			if f.AdvisoryID != "GO-2024-3005" {
				if f.Enrichment != nil {
					t.Errorf("%s enriched though its CVE is not stored", f.AdvisoryID)
				}
				continue
			}
			hit = true
			if f.Enrichment == nil || !slices.Equal(f.Enrichment.CVEs, []string{"CVE-2024-41110"}) || f.Enrichment.SSVC == nil {
				t.Fatalf("GO-2024-3005 enrichment %+v", f.Enrichment)
			}
			if f.Severity.Source != "cve:cna" || f.Severity.Level != "CRITICAL" {
				t.Errorf("GO-2024-3005 severity %+v, want CRITICAL from the CNA's CVSS vector", f.Severity)
			}
		}
		if !hit {
			t.Fatal("GO-2024-3005 not found in the gomod lockfile")
		}
	})
}
