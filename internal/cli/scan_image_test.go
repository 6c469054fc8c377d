package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/cve/feedtest"
)

// runErr is run that also returns stderr.
func runErr(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestScanOutputsOfflineAndDBDistribution(t *testing.T) {
	data, err := feedtest.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	osv := filepath.Join(data, "osv")
	dir := t.TempDir()
	vdb := filepath.Join(dir, "published", "vuln.db")
	if out, code := run(t, "--log-level", "warn", "db", "build", "--out", vdb,
		"--osv", filepath.Join(osv, "golang-vulndb-osv.tar.gz"), "--alpine", filepath.Join(osv, "alpine-secdb.tar.gz")); code != ExitOK {
		t.Fatalf("db build exit %d: %s", code, out)
	}
	gomod := filepath.Join(data, "inventories", "lockfiles", "gomod")

	t.Run("sarif", func(t *testing.T) {
		js, code := run(t, "scan", "fs", "--vulndb", vdb, "-o", "json", gomod)
		if code != ExitOK {
			t.Fatalf("scan exit %d", code)
		}
		sarifOut, code := run(t, "scan", "fs", "--vulndb", vdb, "-o", "sarif", gomod)
		if code != ExitOK {
			t.Fatalf("scan -o sarif exit %d", code)
		}
		var log struct {
			Version string
			Runs    []struct {
				Tool    struct{ Driver struct{ Name string } }
				Results []struct {
					RuleID    string
					Level     string
					Locations []struct {
						PhysicalLocation struct{ ArtifactLocation struct{ URI string } }
					}
				}
			}
		}
		if err := json.Unmarshal([]byte(sarifOut), &log); err != nil {
			t.Fatalf("not SARIF JSON: %v", err)
		}
		rep := decodeReport(t, js)
		if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != len(rep.Findings) || len(rep.Findings) == 0 {
			t.Fatalf("SARIF version %q, %d runs; want 2.1.0, one run with %d results", log.Version, len(log.Runs), len(rep.Findings))
		}
		for i, r := range log.Runs[0].Results {
			if r.RuleID != rep.Findings[i].AdvisoryID || len(r.Locations) != 1 || !strings.HasSuffix(r.Locations[0].PhysicalLocation.ArtifactLocation.URI, "go.mod") {
				t.Errorf("result %d = %+v, want rule %s located in go.mod", i, r, rep.Findings[i].AdvisoryID)
			}
		}
	})

	t.Run("offline", func(t *testing.T) {
		_, stderr, code := runErr(t, "scan", "image", "--offline", "--vulndb", vdb, "registry.example/team/app:1.0")
		if code != ExitError || !strings.Contains(stderr, "offline") {
			t.Errorf("offline registry scan: exit %d, stderr %q; want a refusal naming offline mode", code, stderr)
		}
		archive := filepath.Join(data, "inventories", "images", "alpine-3.10-docker-save.tar.gz")
		out, code := run(t, "scan", "image", "--offline", "--vulndb", vdb, "-o", "json", archive)
		if code != ExitOK {
			t.Fatalf("offline archive scan exit %d", code)
		}
		if rep := decodeReport(t, out); len(rep.Packages) != 14 || len(rep.Findings) != 0 {
			t.Errorf("offline archive scan: %d packages, %d findings; want 14 and 0", len(rep.Packages), len(rep.Findings))
		}
		_, stderr, code = runErr(t, "--db", "postgres://kubeward@db.example/kubeward", "scan", "fs", "--offline", "--enrich", "--vulndb", vdb, gomod)
		if code != ExitError || !strings.Contains(stderr, "offline") {
			t.Errorf("--offline --enrich with a PostgreSQL store: exit %d, stderr %q; want a refusal", code, stderr)
		}
	})

	t.Run("import and update", func(t *testing.T) {
		installed := filepath.Join(dir, "installed", "vuln.db")
		out, code := run(t, "db", "import", "--out", installed, vdb)
		if code != ExitOK || !strings.Contains(out, "imported") {
			t.Fatalf("db import exit %d: %s", code, out)
		}
		if _, err := os.Stat(installed + ".manifest.json"); err != nil {
			t.Errorf("no manifest next to the installed database: %v", err)
		}
		before, err := os.ReadFile(installed)
		if err != nil {
			t.Fatal(err)
		}
		// A corrupted copy is refused and the installed database kept.
		bad := filepath.Join(dir, "bad.db")
		corrupt := bytes.Clone(before)
		corrupt[len(corrupt)/3] ^= 0x55
		if err := os.WriteFile(bad, corrupt, 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runErr(t, "db", "import", "--out", installed, "--manifest", vdb+".manifest.json", bad)
		if code != ExitError || !strings.Contains(stderr, "SHA-256") {
			t.Errorf("corrupt import: exit %d, stderr %q; want a SHA-256 mismatch", code, stderr)
		}
		if after, _ := os.ReadFile(installed); !bytes.Equal(after, before) {
			t.Error("a refused import changed the installed database")
		}
		out, code = run(t, "--log-level", "warn", "db", "update", "--vulndb", installed)
		if code != ExitOK || !strings.Contains(out, "0 added, 0 updated, 0 deleted") {
			t.Errorf("db update of an up-to-date database: exit %d: %s", code, out)
		}
	})
}
