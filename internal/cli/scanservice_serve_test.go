package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// uploadScan posts file as a multipart scan upload of kind named name and
// returns the status, the Location header and the body of the answer.
func uploadScan(t *testing.T, s *servedKubeward, token, kind, name string, file []byte) (int, string, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{api.ScanFieldKind, kind}, {api.ScanFieldName, name}} {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile(api.ScanFieldFile, filepath.Base(name)+".tar")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	code, h, b := s.do(t, token, http.MethodPost, "/api/v1/scans", mw.FormDataContentType(), &body)
	return code, h.Get("Location"), b
}

// awaitScan polls the scan at location until it is done and returns it;
// a failed scan fails the test.
func awaitScan(t *testing.T, s *servedKubeward, token, location string) job.Scan {
	t.Helper()
	var sc job.Scan
	pollUntil(t, "scan "+location+" done", func() (bool, error) {
		code, _, b := s.do(t, token, http.MethodGet, location, "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", location, code, b)
		}
		if err := json.Unmarshal(b, &sc); err != nil {
			t.Fatalf("GET %s: %v", location, err)
		}
		if sc.State == job.StateFailed {
			t.Fatalf("scan %s failed: %s", location, sc.Error)
		}
		return sc.State == job.StateDone, fmt.Errorf("state %s", sc.State)
	})
	return sc
}

// TestServeScanAPI scans real uploads through `kubeward serve --vulndb`:
// the shared alpine:3.10 archive (larger than the API's default body
// limit, so the upload route's own limit must apply) has 14 packages and
// no finding; an image holding the shared Pipfile.lock has findings, which
// the scan.findings consumer turns into VulnerablePackage alerts.
func TestServeScanAPI(t *testing.T) {
	alpine, err := os.ReadFile(jobtest.AlpineArchive(t, "3.10"))
	if err != nil {
		t.Fatal(err)
	}
	if len(alpine) <= api.MaxBodyBytes {
		t.Fatalf("the alpine archive has %d bytes, not more than the API's %d byte default limit: it proves nothing", len(alpine), api.MaxBodyBytes)
	}
	pwFile, password := adminPasswordFile(t)
	s := startServe(t,
		[]string{"--db", "sqlite://" + filepath.Join(t.TempDir(), "k.db"), "--log-level", "warn"},
		"--admin-password-file", pwFile, "--vulndb", vulndbtest.SharedDB(t), "--scan-spool-dir", t.TempDir())
	token := s.login(t, "admin", password)

	code, location, body := uploadScan(t, s, token, string(job.KindArchive), "alpine:3.10", alpine)
	if code != http.StatusAccepted || location == "" {
		t.Fatalf("upload alpine:3.10: %d (Location %q) %s", code, location, body)
	}
	sc := awaitScan(t, s, token, location)
	if sc.Summary.Packages != 14 || sc.Summary.Findings != 0 || sc.Target != "alpine:3.10" || sc.RequestedBy != "admin" {
		t.Errorf("alpine:3.10 scan: %+v; want 14 packages, no finding, target alpine:3.10, requested by admin", sc)
	}

	// The upload limit is the upload route's own: a JSON body keeps the
	// API's default, and is answered 413.
	big := `{"image":"alpine:3.10","padding":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
	code, _, body = s.do(t, token, http.MethodPost, "/api/v1/scans", "application/json", strings.NewReader(big))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), fmt.Sprintf("larger than %d bytes", api.MaxBodyBytes)) {
		t.Errorf("POST /api/v1/scans with a %d byte JSON body: %d %s; want it refused for exceeding %d bytes", len(big), code, body, api.MaxBodyBytes)
	}

	const shop = "registry.example/shop/api:1.4"
	code, location, body = uploadScan(t, s, token, string(job.KindArchive), shop, jobtest.PipfileImage(t))
	if code != http.StatusAccepted {
		t.Fatalf("upload %s: %d %s", shop, code, body)
	}
	sc = awaitScan(t, s, token, location)
	if sc.Summary.Findings == 0 {
		t.Fatalf("%s scan found nothing: %+v", shop, sc)
	}
	code, _, body = s.do(t, token, http.MethodGet, location+"/findings?limit=1000", "", nil)
	// Only the identity of each finding matters here.
	var findings api.List[struct {
		Package    struct{ Name string } `json:"package"`
		AdvisoryID string                `json:"advisory_id"`
	}]
	if err := json.Unmarshal(body, &findings); code != http.StatusOK || err != nil || findings.Total != sc.Summary.Findings || len(findings.Items) != findings.Total {
		t.Fatalf("GET %s/findings: %d %v, %d of %d findings; summary says %d", location, code, err, len(findings.Items), findings.Total, sc.Summary.Findings)
	}
	var want []string
	for _, f := range findings.Items {
		want = append(want, f.Package.Name+" "+f.AdvisoryID)
	}
	slices.Sort(want)
	want = slices.Compact(want)

	// Every finding becomes one alert, identified by image, package and
	// advisory.
	query := "/api/v1/alerts?limit=1000&source=finding&filter=" + url.QueryEscape(alert.LabelAlertName+`="`+source.AlertNameFinding+`"`)
	var got []string
	pollUntil(t, "finding alerts", func() (bool, error) {
		code, _, body := s.do(t, token, http.MethodGet, query, "", nil)
		var page api.List[service.View]
		if err := json.Unmarshal(body, &page); code != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %v %s", query, code, err, body)
		}
		got = got[:0]
		for _, v := range page.Items {
			if v.Labels[source.LabelImage] != shop || v.Source != alert.SourceFinding || v.State != "firing" {
				t.Fatalf("alert %+v: want a firing finding alert of %s", v, shop)
			}
			got = append(got, v.Labels[source.LabelPackage]+" "+v.Labels[source.LabelAdvisory])
		}
		slices.Sort(got)
		return len(got) >= len(want), fmt.Errorf("%d of %d alerts", len(got), len(want))
	})
	if !slices.Equal(got, want) {
		t.Errorf("finding alerts:\n%s\nwant one per finding:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestServeScanAPIWithoutVulnDB: without a vulnerability database serve
// starts and the scan API answers 503.
func TestServeScanAPIWithoutVulnDB(t *testing.T) {
	pwFile, password := adminPasswordFile(t)
	s := startServe(t,
		[]string{"--db", "sqlite://" + filepath.Join(t.TempDir(), "k.db"), "--log-level", "error"},
		"--admin-password-file", pwFile, "--vulndb", filepath.Join(t.TempDir(), "missing.db"))
	token := s.login(t, "admin", password)
	code, _, body := s.do(t, token, http.MethodPost, "/api/v1/scans", "application/json", strings.NewReader(`{"image":"alpine:3.10"}`))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("POST /api/v1/scans without a vulndb: %d %s; want 503", code, body)
	}
	code, _, body = uploadScan(t, s, token, string(job.KindArchive), "shop", jobtest.PipfileImage(t))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("upload without a vulndb: %d %s; want 503", code, body)
	}
}

// TestServeRefusesBadClusterScanFlags: bad periodic cluster scan settings
// stop serve at start, whether or not a vulnerability database exists.
func TestServeRefusesBadClusterScanFlags(t *testing.T) {
	vdb := vulndbtest.SharedDB(t)
	missing := filepath.Join(t.TempDir(), "missing.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"negative interval", []string{"--vulndb", vdb, "--cluster-scan-interval", "-1m"}, "--cluster-scan-interval -1m0s"},
		{"no scan per round", []string{"--vulndb", vdb, "--cluster-scan-max", "0"}, "--cluster-scan-max 0"},
		{"negative max without a vulndb", []string{"--vulndb", missing, "--cluster-scan-max", "-3"}, "--cluster-scan-max -3"},
		{"unparsable interval", []string{"--vulndb", vdb, "--cluster-scan-interval", "often"}, "--cluster-scan-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, errOut := serveRefused(t, []string{"--db", "sqlite://" + filepath.Join(t.TempDir(), "k.db"), "--log-level", "error"}, tc.args...)
			if code != ExitError || !strings.Contains(errOut, tc.want) {
				t.Errorf("serve %v exited %d saying %q; want exit %d and an error mentioning %q", tc.args, code, errOut, ExitError, tc.want)
			}
		})
	}
}
