package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/archive"
	"github.com/kubeward/kubeward/internal/cve/feedtest"
)

// xzRecords copies the real records that mention xz into a directory, as
// an air-gapped user would have them.
func xzRecords(t *testing.T) string {
	t.Helper()
	data, err := feedtest.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	err = archive.Walk(context.Background(), filepath.Join(data, "cve", "vulnrichment-records.tar.gz"), archive.Options{}, func(e archive.Entry) error {
		if e.Err != nil {
			return e.Err
		}
		if !bytes.Contains(bytes.ToLower(e.Data), []byte(" xz ")) && !bytes.Contains(e.Data, []byte("CVE-2024-3094")) {
			return nil
		}
		n++
		return os.WriteFile(filepath.Join(dir, filepath.Base(e.Name)), e.Data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no xz records in the shared data")
	}
	return dir
}

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), args, &out, &errOut)
	if code == ExitError {
		t.Logf("kubeward %s: %s", strings.Join(args, " "), errOut.String())
	}
	return out.String(), code
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestIngestThenServe is the README's path: ingest records, serve, ask the
// API for xz, stop gracefully.
func TestIngestThenServe(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	out, code := run(t, "--db", db, "--log-level", "warn", "cve", "ingest", xzRecords(t), "-o", "json")
	if code != ExitOK {
		t.Fatalf("cve ingest exited %d", code)
	}
	var sum struct {
		Records, Written int
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Records == 0 || sum.Written != sum.Records {
		t.Fatalf("ingest summary %q: %+v %v", out, sum, err)
	}

	out, code = run(t, "--db", db, "cve", "stats", "-o", "json")
	var stats map[string]any
	if code != ExitOK || json.Unmarshal([]byte(out), &stats) != nil || stats["records"] != float64(sum.Records) {
		t.Fatalf("cve stats: exit %d, %s", code, out)
	}
	for _, k := range []string{"records", "rejected", "kev"} {
		if _, ok := stats[k]; !ok {
			t.Fatalf("cve stats -o json lacks %q: %s", k, out)
		}
	}

	pwFile, password := adminPasswordFile(t)
	s := startServe(t, []string{"--db", db, "--log-level", "warn"}, "--admin-password-file", pwFile)
	base := s.URL
	// No data without authentication.
	resp, err := http.Get(base + "/api/v1/cves?q=xz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated GET /api/v1/cves: %d, want 401", resp.StatusCode)
	}
	token := s.login(t, "admin", password)
	code, _, body := s.do(t, token, http.MethodGet, "/api/v1/cves?q=xz", "", nil)
	var list struct {
		Total int
		Items []struct{ ID string }
	}
	if err := json.Unmarshal(body, &list); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/cves?q=xz: %d %v", code, err)
	}
	ids := fmt.Sprint(list.Items)
	if list.Total == 0 || !strings.Contains(ids, "CVE-2024-3094") {
		t.Fatalf("search xz: %d results %s, want CVE-2024-3094", list.Total, ids)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "kubeward_http_requests_total") {
		t.Fatal("/metrics lacks kubeward_http_requests_total")
	}
	if code := s.stop(); code != ExitOK {
		t.Fatalf("serve exited %d after a graceful stop", code)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kubeward.yaml")
	if err := os.WriteFile(cfg, []byte("db: sqlite://"+filepath.Join(dir, "from-file.db")+"\nlog-level: nonsense-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file's bad log level is overridden by the environment, and the
	// flag beats both.
	t.Setenv("KUBEWARD_LOG_LEVEL", "warn")
	if _, code := run(t, "--config", cfg, "cve", "stats"); code != ExitOK {
		t.Fatalf("env did not override the config file (exit %d)", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-file.db")); err != nil {
		t.Fatalf("the config file's db was not used: %v", err)
	}
	if _, code := run(t, "--config", cfg, "--log-level", "bogus", "cve", "stats"); code != ExitError {
		t.Fatalf("a bad --log-level flag must win over the environment and fail (exit %d)", code)
	}
	t.Setenv("KUBEWARD_DB", "mysql://nope")
	if _, code := run(t, "--config", cfg, "cve", "stats"); code != ExitError {
		t.Fatalf("KUBEWARD_DB must override the file and be refused (exit %d)", code)
	}
}

func TestKEVAndEPSSImport(t *testing.T) {
	data, err := feedtest.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "k.db")
	out, code := run(t, "--db", db, "--log-level", "warn", "cve", "kev", "import", filepath.Join(data, "kev", "known_exploited_vulnerabilities.json"))
	if code != ExitOK || !strings.Contains(out, "1404 entries") {
		t.Fatalf("kev import: exit %d, %q", code, out)
	}
	// Plainly synthetic EPSS scores: no real EPSS file is available offline.
	epssFile := filepath.Join(dir, "epss_scores-2025-08-25.csv")
	body := "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.94,0.99\nCVE-2024-3094,0.5,0.9\n"
	if err := os.WriteFile(epssFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, "--db", db, "cve", "epss", "import", epssFile)
	if code != ExitOK || !strings.Contains(out, "imported 2 EPSS scores") {
		t.Fatalf("epss import: exit %d, %q", code, out)
	}
	if _, code := run(t, "--db", db, "--log-level", "warn", "cve", "ingest", xzRecords(t)); code != ExitOK {
		t.Fatalf("ingest exit %d", code)
	}
	out, code = run(t, "--db", db, "cve", "show", "CVE-2024-3094", "-o", "json")
	var d struct {
		EPSS *struct{ EPSS float64 }
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &d) != nil || d.EPSS == nil || d.EPSS.EPSS != 0.5 {
		t.Fatalf("show after imports: exit %d, %s", code, out)
	}
	if _, code := run(t, "--db", db, "cve", "epss", "import", filepath.Join(dir, "missing.csv")); code != ExitError {
		t.Fatalf("a missing file must exit 2, got %d", code)
	}
}
