package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
	"github.com/kubeward/kubeward/internal/store/sqlite"
	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

var quietLog = slog.New(slog.DiscardHandler)

// pypaDB builds a vulnerability database of the shared PyPA advisories
// and Alpine secdb (what the test images need) and opens it.
func pypaDB(t *testing.T) *vulndb.DB {
	t.Helper()
	opts := vulndbtest.Options(t, filepath.Join(t.TempDir(), "vuln.db"))
	var osv []string
	for _, p := range opts.OSV {
		if strings.Contains(p, "pypa") {
			osv = append(osv, p)
		}
	}
	opts.OSV = osv
	opts.Logger = quietLog
	if _, err := vulndb.Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(context.Background(), opts.Out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scanEnv is the scan API as kubeward serve runs it: authentication, the
// scan service on SQLite and a real in-process bus, and the alert
// pipeline consuming scan.findings.
type scanEnv struct {
	*authEnv
	svc    *job.Service
	bus    *inproc.Bus
	alerts *memstore.Store
}

func newScanEnv(t *testing.T, db *vulndb.DB, run bool, edit func(*job.Config)) *scanEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	authSvc, err := auth.NewService(ctx, st, auth.Config{Password: auth.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	b := inproc.New(inproc.Options{Logger: quietLog})
	if err := b.DeclareGroup(source.GroupFindings, job.Topic); err != nil {
		t.Fatal(err)
	}
	cfg := job.Config{Store: st.Scans(), Matcher: &scan.Matcher{DB: db, Log: quietLog}, Publisher: b, SpoolDir: t.TempDir(), Logger: quietLog,
		Inventories: job.DefaultInventories(scan.ImageOptions{Offline: true})}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := job.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	acfg, err := config.Load([]byte("route: {receiver: devnull, group_by: [image]}\nreceivers: [{name: devnull}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := acfg.Integrations(notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	alerts := memstore.New()
	disp, err := dispatch.New(dispatch.Options{Config: acfg, Storage: alerts, Integrations: ints, Clock: alert.SystemClock{}, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	consumer := source.FindingConsumer(disp, source.FindingConverter{}, quietLog)
	wg.Go(func() { _ = b.Consume(ctx, consumer.Options, consumer.Handler) })
	if run {
		wg.Go(func() { _ = svc.Run(ctx) })
	}
	e := &authEnv{t: t, api: &Server{Store: st, Auth: authSvc, ExtraRoutes: ScanRoutes(ScanDeps{Service: svc, Logger: quietLog})}, svc: authSvc, st: st,
		user: map[auth.Role]string{auth.RoleViewer: "vera", auth.RoleOperator: "oscar", auth.RoleAdmin: "alice"}}
	for role, name := range e.user {
		if _, err := authSvc.CreateUser(ctx, name, testPassword, role); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		wg.Wait()
		b.Close()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return &scanEnv{authEnv: e, svc: svc, bus: b, alerts: alerts}
}

// upload posts a multipart form: fields in order, then the file.
func (e *scanEnv) upload(token string, fields [][2]string, fileName string, file []byte) (int, http.Header, []byte) {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			e.t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile(ScanFieldFile, fileName)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := fw.Write(file); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.srv.URL+"/api/v1/scans", &body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// poll GETs a scan until it failed, or is done with its findings
// published.
func (e *scanEnv) poll(token, location string) job.Scan {
	e.t.Helper()
	for {
		code, _, body := e.do("GET", location, token, nil)
		if code != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", location, code, body)
		}
		var sc job.Scan
		if err := json.Unmarshal(body, &sc); err != nil {
			e.t.Fatal(err)
		}
		if sc.State == job.StateFailed || sc.State == job.StateDone && sc.Published {
			return sc
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func decodeList[T any](t testing.TB, body []byte) List[T] {
	t.Helper()
	var l List[T]
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("list body: %v\n%s", err, body)
	}
	return l
}

// findingsPage reads GET /api/v1/scans/{id}/findings; severity levels are
// compared by name because scan.Level does not decode.
type findingJSON struct {
	Package    scan.Package `json:"package"`
	AdvisoryID string       `json:"advisory_id"`
	Severity   struct {
		Level string `json:"level"`
	} `json:"severity"`
}

func TestScanUploadEndToEnd(t *testing.T) {
	e := newScanEnv(t, pypaDB(t), true, nil)
	operator, viewer := e.login(auth.RoleOperator).AccessToken, e.login(auth.RoleViewer).AccessToken
	image := jobtest.PipfileImage(t)

	if code, _, body := e.upload(viewer, [][2]string{{ScanFieldKind, "archive"}}, "api.tar", image); code != http.StatusForbidden {
		t.Fatalf("viewer POST: %d %s, want 403", code, body)
	}
	code, hdr, body := e.upload(operator, [][2]string{{ScanFieldKind, "archive"}, {ScanFieldName, "registry.example/shop/api:1.4"}}, "api.tar", image)
	if code != http.StatusAccepted {
		t.Fatalf("POST upload: %d %s", code, body)
	}
	var queued job.Scan
	if err := json.Unmarshal(body, &queued); err != nil {
		t.Fatal(err)
	}
	location := hdr.Get("Location")
	if location != "/api/v1/scans/"+queued.ID || queued.State != job.StateQueued || queued.RequestedBy != "oscar" || queued.Target != "registry.example/shop/api:1.4" {
		t.Fatalf("202 Location %q, body %+v", location, queued)
	}
	done := e.poll(viewer, location)
	if done.State != job.StateDone {
		t.Fatalf("scan ended %s: %s", done.State, done.Error)
	}
	if done.Summary.Findings == 0 || done.Summary.Packages == 0 || done.StartedAt.IsZero() || done.FinishedAt.Before(done.StartedAt) {
		t.Fatalf("done scan: %+v", done)
	}

	// Findings: all of them, most severe first, then filtered and paged.
	code, _, body = e.do("GET", location+"/findings?limit=1000", viewer, nil)
	if code != http.StatusOK {
		t.Fatalf("GET findings: %d %s", code, body)
	}
	all := decodeList[findingJSON](t, body)
	if all.Total != done.Summary.Findings || len(all.Items) != all.Total {
		t.Fatalf("findings: total %d, %d items; summary says %d", all.Total, len(all.Items), done.Summary.Findings)
	}
	rank := func(s string) scan.Level {
		l, err := scan.ParseLevel(s)
		if err != nil {
			t.Fatalf("stored severity %q: %v", s, err)
		}
		return l
	}
	for i := 1; i < len(all.Items); i++ {
		if rank(all.Items[i].Severity.Level) > rank(all.Items[i-1].Severity.Level) {
			t.Errorf("finding %d (%s) is more severe than finding %d (%s)", i, all.Items[i].Severity.Level, i-1, all.Items[i-1].Severity.Level)
		}
	}
	least := all.Items[len(all.Items)/2].Severity.Level
	wantFiltered := 0
	for _, f := range all.Items {
		if rank(f.Severity.Level) >= rank(least) {
			wantFiltered++
		}
	}
	code, _, body = e.do("GET", location+"/findings?severity="+strings.ToLower(least)+"&limit=2&offset=1", viewer, nil)
	page := decodeList[findingJSON](t, body)
	if code != http.StatusOK || page.Total != wantFiltered || page.Limit != 2 || page.Offset != 1 || len(page.Items) != min(2, max(0, wantFiltered-1)) {
		t.Errorf("severity ≥ %s, limit 2, offset 1: %d %+v (want total %d)", least, code, page, wantFiltered)
	} else if page.Items[0].AdvisoryID != all.Items[1].AdvisoryID {
		t.Errorf("page starts at %s, want %s", page.Items[0].AdvisoryID, all.Items[1].AdvisoryID)
	}
	code, _, body = e.do("GET", location+"/packages?limit=3", viewer, nil)
	if pkgs := decodeList[scan.Package](t, body); code != http.StatusOK || pkgs.Total != done.Summary.Packages || len(pkgs.Items) != min(3, pkgs.Total) || pkgs.Items[0].Location != "app/Pipfile.lock" {
		t.Errorf("packages: %d %+v", code, pkgs)
	}

	// The list shows the scan.
	code, _, body = e.do("GET", "/api/v1/scans?state=done", viewer, nil)
	if l := decodeList[job.Scan](t, body); code != http.StatusOK || l.Total != 1 || l.Items[0].ID != queued.ID || l.Limit != job.DefaultLimit {
		t.Errorf("GET /api/v1/scans?state=done: %d %+v", code, l)
	}

	// Every finding reached the alert pipeline: one alert per package and
	// advisory of the image.
	if err := e.bus.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	as, err := e.alerts.ListAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(all.Items) {
		t.Fatalf("%d alerts for %d findings", len(as), len(all.Items))
	}
	want := map[string]bool{}
	for _, f := range all.Items {
		want[f.Package.Name+" "+f.AdvisoryID] = true
	}
	for _, a := range as {
		if !want[a.Labels[source.LabelPackage]+" "+a.Labels[source.LabelAdvisory]] || a.Labels[source.LabelImage] != queued.Target || a.GeneratorURL != location {
			t.Errorf("unexpected alert %v", a.Labels)
		}
	}
}

func TestScanRequestsRefused(t *testing.T) {
	e := newScanEnv(t, pypaDB(t), false, func(c *job.Config) { c.QueueSize, c.MaxUploadBytes = 1, 4096 })
	operator := e.login(auth.RoleOperator).AccessToken
	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"file path", map[string]string{"image": "/etc/passwd"}, http.StatusBadRequest, "file path"},
		{"registry scans off", map[string]string{"image": "alpine:3.20"}, http.StatusBadRequest, "does not scan image targets"},
		{"no image", map[string]string{}, http.StatusBadRequest, "is required: the reference to scan"},
		{"unknown member", `{"image":"alpine","kind":"sbom"}`, http.StatusBadRequest, "unknown field"},
		{"trailing data", `{"image":"alpine"} {}`, http.StatusBadRequest, "after the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := e.do("POST", "/api/v1/scans", operator, tc.body)
			if code != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d %s; want %d mentioning %q", code, body, tc.status, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		fields [][2]string
		file   []byte
		status int
		want   string
	}{
		{"no kind", nil, []byte("x"), http.StatusBadRequest, "must come before the file"},
		{"bad kind", [][2]string{{ScanFieldKind, "vm"}}, []byte("x"), http.StatusBadRequest, "want archive"},
		{"unknown field", [][2]string{{ScanFieldKind, "sbom"}, {"color", "red"}}, []byte("x"), http.StatusBadRequest, "unknown form field"},
		{"no file", [][2]string{{ScanFieldKind, "sbom"}}, nil, http.StatusBadRequest, "part: add the file to scan"},
		{"empty file", [][2]string{{ScanFieldKind, "sbom"}}, []byte{}, http.StatusBadRequest, "empty"},
		{"too large", [][2]string{{ScanFieldKind, "archive"}}, bytes.Repeat([]byte("x"), 4097), http.StatusRequestEntityTooLarge, "4096 bytes"},
		{"accepted", [][2]string{{ScanFieldKind, "sbom"}}, []byte("{}"), http.StatusAccepted, `"state":"queued"`},
		{"queue full", [][2]string{{ScanFieldKind, "sbom"}}, []byte("{}"), http.StatusTooManyRequests, "queue is full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := e.upload(operator, tc.fields, "f.json", tc.file)
			if code != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d %s; want %d mentioning %q", code, body, tc.status, tc.want)
			}
			if code == http.StatusTooManyRequests && hdr.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
	}
	viewer := e.login(auth.RoleViewer).AccessToken
	for _, path := range []string{"/api/v1/scans/nope", "/api/v1/scans/nope/findings", "/api/v1/scans/nope/packages"} {
		if code, _, body := e.do("GET", path, viewer, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", path, code, body)
		}
	}
	for _, path := range []string{"/api/v1/scans?state=bogus", "/api/v1/scans?limit=0", "/api/v1/scans/x/findings?severity=extreme"} {
		if code, _, body := e.do("GET", path, viewer, nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", path, code, body)
		}
	}
}

func TestScanRoutesWithoutService(t *testing.T) {
	srv := httptest.NewServer((&Server{InsecureNoAuth: true, ExtraRoutes: ScanRoutes(ScanDeps{})}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/scans")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /api/v1/scans without a scan service: %d, want 503", resp.StatusCode)
	}
}

// TestScanRegistryReference pushes an image to an in-memory registry on
// 127.0.0.1 and scans it by reference.
func TestScanRegistryReference(t *testing.T) {
	ref := fmt.Sprintf("%s/shop/api:1.4", jobtest.StartRegistry(t))
	jobtest.Push(t, ref, jobtest.PipfileImage(t))
	e := newScanEnv(t, pypaDB(t), true, func(c *job.Config) { c.Inventories = job.DefaultInventories(scan.ImageOptions{}) })
	operator := e.login(auth.RoleOperator).AccessToken
	code, hdr, body := e.do("POST", "/api/v1/scans", operator, map[string]string{"image": ref})
	if code != http.StatusAccepted {
		t.Fatalf("POST image: %d %s", code, body)
	}
	done := e.poll(operator, hdr.Get("Location"))
	if done.State != job.StateDone || done.Kind != job.KindImage || done.Target != ref || done.Summary.Findings == 0 {
		t.Fatalf("registry scan: %+v", done)
	}
	// The same image uploaded gives the same report.
	code, hdr, body = e.upload(operator, [][2]string{{ScanFieldKind, "archive"}}, "api.tar", jobtest.PipfileImage(t))
	if code != http.StatusAccepted {
		t.Fatalf("POST upload: %d %s", code, body)
	}
	if up := e.poll(operator, hdr.Get("Location")); up.State != job.StateDone || up.Summary.Findings != done.Summary.Findings || up.Summary.Packages != done.Summary.Packages {
		t.Errorf("upload summary %+v, registry summary %+v", up.Summary, done.Summary)
	}
}

// TestScanLargeUploadStreams uploads the shared alpine:3.10 `docker save`
// archive (2.7 MB, over the API-wide MaxBodyBytes) through Server.Handler:
// the upload route's own body limit applies, not the API-wide one.
func TestScanLargeUploadStreams(t *testing.T) {
	e := newScanEnv(t, pypaDB(t), true, nil)
	archive, err := os.ReadFile(jobtest.AlpineArchive(t, "3.10"))
	if err != nil {
		t.Fatal(err)
	}
	if len(archive) <= MaxBodyBytes {
		t.Fatalf("the alpine archive (%d bytes) no longer exceeds MaxBodyBytes", len(archive))
	}
	operator := e.login(auth.RoleOperator).AccessToken
	code, hdr, body := e.upload(operator, [][2]string{{ScanFieldKind, "archive"}, {ScanFieldName, "alpine:3.10"}}, "alpine.tar.gz", archive)
	if code != http.StatusAccepted {
		t.Fatalf("POST the alpine archive: %d %s", code, body)
	}
	done := e.poll(operator, hdr.Get("Location"))
	// False-positive control: 14 apk packages, none vulnerable against
	// the shared Alpine secdb.
	if done.State != job.StateDone || done.Summary.Packages != 14 || done.Summary.Findings != 0 || done.Target != "alpine:3.10" {
		t.Fatalf("alpine scan: %+v", done)
	}
	code, _, body = e.do("GET", hdr.Get("Location")+"/packages?limit=1000", operator, nil)
	pkgs := decodeList[scan.Package](t, body)
	if code != http.StatusOK || pkgs.Total != 14 {
		t.Fatalf("packages: %d %s", code, body)
	}
	for _, p := range pkgs.Items {
		if !strings.HasPrefix(p.Ecosystem, "Alpine:v3.10") || !strings.HasPrefix(p.Layer, "sha256:") {
			t.Errorf("package %+v: want an Alpine:v3.10 package attributed to a layer", p)
		}
	}
}
