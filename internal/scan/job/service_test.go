package job_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/sbom"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	code := m.Run()
	vulndbtest.Cleanup()
	os.Exit(code)
}

// harness is a Service on a memory store, the shared vulnerability
// database and a real in-process bus whose scan.findings messages it
// collects.
type harness struct {
	svc   *job.Service
	store *job.Memory
	bus   *inproc.Bus
	spool string

	mu   sync.Mutex
	msgs []bus.Message
}

func matcher(t *testing.T) *scan.Matcher {
	t.Helper()
	db, err := vulndb.Open(context.Background(), vulndbtest.SharedDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &scan.Matcher{DB: db, Log: quiet}
}

// newHarness builds the service; edit adjusts its config. run says
// whether to start its workers.
func newHarness(t *testing.T, run bool, edit func(*job.Config)) *harness {
	t.Helper()
	h := &harness{store: job.NewMemory(), bus: inproc.New(inproc.Options{Logger: quiet}), spool: t.TempDir()}
	if err := h.bus.DeclareGroup("test", job.Topic); err != nil {
		t.Fatal(err)
	}
	cfg := job.Config{Store: h.store, Matcher: matcher(t), Publisher: h.bus, SpoolDir: h.spool, Logger: quiet, Workers: 2, QueueSize: 4}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := job.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = h.bus.Consume(ctx, bus.ConsumeOptions{Group: "test", Topics: []string{job.Topic}}, func(_ context.Context, batch []bus.Message) error {
			h.mu.Lock()
			h.msgs = append(h.msgs, batch...)
			h.mu.Unlock()
			return nil
		})
	})
	if run {
		wg.Go(func() {
			if err := svc.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		h.bus.Close()
	})
	return h
}

// wait polls until scan id has failed, or is done and published.
func (h *harness) wait(t *testing.T, id string) job.Scan {
	t.Helper()
	for {
		s, err := h.svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.State == job.StateDone && s.Published || s.State == job.StateFailed {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// published returns the decoded messages of scan id on the bus, once the
// consumer caught up.
func (h *harness) published(t *testing.T, id string) []job.FindingMessage {
	t.Helper()
	if err := h.bus.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []job.FindingMessage
	for _, m := range h.msgs {
		fm, err := job.DecodeMessage(m.Value)
		if err != nil {
			t.Fatalf("published message does not decode: %v", err)
		}
		if fm.ScanID == id {
			if m.Key != fm.Target {
				t.Errorf("message key %q, want the target %q", m.Key, fm.Target)
			}
			out = append(out, fm)
		}
	}
	return out
}

func (h *harness) spooled(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(h.spool)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func allFindings(t *testing.T, svc *job.Service, id string) []scan.Finding {
	t.Helper()
	page, err := svc.Findings(context.Background(), id, job.FindingFilter{Limit: job.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

func TestUploadsAreScannedStoredAndPublished(t *testing.T) {
	h := newHarness(t, true, nil)
	ctx := context.Background()
	alpine, err := os.ReadFile(jobtest.AlpineArchive(t, "3.11"))
	if err != nil {
		t.Fatal(err)
	}
	// The SBOM lists the packages of the shared Pipfile.lock, as the
	// scanner's own CycloneDX writer writes them.
	pipPkgs, err := scan.ImageInventory(ctx, writeTemp(t, jobtest.PipfileImage(t)), scan.ImageOptions{Offline: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var bom bytes.Buffer
	if err := sbom.WriteCycloneDX(&bom, sbom.Subject{Name: "api", Tool: "test", Created: time.Unix(0, 0)}, pipPkgs); err != nil {
		t.Fatal(err)
	}
	direct, err := matcher(t).Match(ctx, pipPkgs)
	if err != nil || len(direct) == 0 {
		t.Fatalf("direct match of the Pipfile.lock: %d findings, %v", len(direct), err)
	}
	for _, tc := range []struct {
		name         string
		req          job.Request
		wantPackages int
		wantFindings int
	}{
		// False-positive control: alpine 3.11 is patched against the
		// shared secdb.
		{"alpine docker save", job.Request{Kind: job.KindArchive, Name: "alpine:3.11", Upload: bytes.NewReader(alpine)}, 14, 0},
		{"image with a Pipfile.lock", job.Request{Kind: job.KindArchive, Upload: bytes.NewReader(jobtest.PipfileImage(t))}, len(pipPkgs), len(direct)},
		{"OCI layout tarball", job.Request{Kind: job.KindOCI, Name: "api-oci.tar", Upload: bytes.NewReader(jobtest.OCILayoutTar(t, jobtest.PipfileImage(t)))}, len(pipPkgs), len(direct)},
		{"CycloneDX SBOM", job.Request{Kind: job.KindSBOM, Name: "api.cdx.json", Upload: bytes.NewReader(bom.Bytes())}, len(pipPkgs), len(direct)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.RequestedBy = "alice"
			sc, err := h.svc.Submit(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if sc.State != job.StateQueued || len(sc.ID) != 32 || sc.RequestedBy != "alice" || sc.CreatedAt.IsZero() {
				t.Errorf("submitted scan: %+v", sc)
			}
			got := h.wait(t, sc.ID)
			if got.State != job.StateDone {
				t.Fatalf("scan ended %s: %s", got.State, got.Error)
			}
			if got.Summary.Packages != tc.wantPackages || got.Summary.Findings != tc.wantFindings {
				t.Errorf("summary %+v, want %d packages and %d findings", got.Summary, tc.wantPackages, tc.wantFindings)
			}
			stored := allFindings(t, h.svc, sc.ID)
			if len(stored) != tc.wantFindings {
				t.Errorf("%d stored findings, want %d", len(stored), tc.wantFindings)
			}
			msgs := h.published(t, sc.ID)
			if len(msgs) != tc.wantFindings {
				t.Errorf("%d findings published, want %d", len(msgs), tc.wantFindings)
			}
			for i, m := range msgs {
				if m.Target != got.Target || !m.Time.Equal(got.FinishedAt) || m.Finding.AdvisoryID != stored[i].AdvisoryID {
					t.Errorf("message %d: %+v", i, m)
				}
			}
		})
	}
	if left := h.spooled(t); len(left) != 0 {
		t.Errorf("spooled uploads left behind: %v", left)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "image-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func TestBadUploadFailsWithAClearError(t *testing.T) {
	h := newHarness(t, true, nil)
	for _, tc := range []struct {
		name string
		kind job.Kind
		body string
		want string
	}{
		{"not a tarball", job.KindArchive, "this is not an image", `archive "junk.tar"`},
		{"not an SBOM", job.KindSBOM, `{"hello":"world"}`, `sbom "junk.tar"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := h.svc.Submit(context.Background(), job.Request{Kind: tc.kind, Name: "junk.tar", Upload: strings.NewReader(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			got := h.wait(t, sc.ID)
			if got.State != job.StateFailed || !strings.Contains(got.Error, tc.want) || strings.Contains(got.Error, h.spool) {
				t.Errorf("scan ended %s with %q; want failed, naming %s and not the spool file", got.State, got.Error, tc.want)
			}
		})
	}
}

func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
			return false
		}
	}
	return true
}

func TestSubmitRefusesBadRequests(t *testing.T) {
	h := newHarness(t, false, func(c *job.Config) { c.MaxUploadBytes = 64 })
	for _, tc := range []struct {
		name   string
		req    job.Request
		want   error
		reason string
	}{
		{"file path as image", job.Request{Kind: job.KindImage, Image: "/etc/passwd"}, job.ErrInvalid, "invalid"},
		{"relative path as image", job.Request{Kind: job.KindImage, Image: "../images/app.tar"}, job.ErrInvalid, "invalid"},
		{"malformed reference", job.Request{Kind: job.KindImage, Image: "UPPER/Case:tag"}, job.ErrInvalid, "invalid"},
		{"empty reference", job.Request{Kind: job.KindImage, Image: "  "}, job.ErrInvalid, "invalid"},
		{"image scans disabled offline", job.Request{Kind: job.KindImage, Image: "alpine:3.20"}, job.ErrUnsupported, "unsupported"},
		{"image with a file", job.Request{Kind: job.KindImage, Image: "alpine", Upload: strings.NewReader("x")}, job.ErrInvalid, "invalid"},
		{"upload without a file", job.Request{Kind: job.KindSBOM}, job.ErrInvalid, "invalid"},
		{"unknown kind", job.Request{Kind: "vm", Upload: strings.NewReader("x")}, job.ErrInvalid, "invalid"},
		{"control characters in the name", job.Request{Kind: job.KindSBOM, Name: "a\x1b[2Jb", Upload: strings.NewReader("x")}, job.ErrInvalid, "invalid"},
		{"empty upload", job.Request{Kind: job.KindSBOM, Upload: strings.NewReader("")}, job.ErrInvalid, "invalid"},
		{"upload over the limit", job.Request{Kind: job.KindArchive, Upload: strings.NewReader(strings.Repeat("x", 65))}, job.ErrTooLarge, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, "kubeward_scan_job_rejections_total", map[string]string{"reason": tc.reason})
			_, err := h.svc.Submit(context.Background(), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Submit: %v, want %v", err, tc.want)
			}
			if after := counter(t, "kubeward_scan_job_rejections_total", map[string]string{"reason": tc.reason}); after-before != 1 {
				t.Errorf("rejections{reason=%s} grew by %v, want 1", tc.reason, after-before)
			}
		})
	}
	if page, err := h.store.List(context.Background(), job.ScanFilter{}); err != nil || page.Total != 0 {
		t.Errorf("refused requests were recorded: %+v, %v", page, err)
	}
	if left := h.spooled(t); len(left) != 0 {
		t.Errorf("spooled uploads left behind: %v", left)
	}
	// An upload of exactly the limit is accepted.
	if _, err := h.svc.Submit(context.Background(), job.Request{Kind: job.KindArchive, Upload: strings.NewReader(strings.Repeat("x", 64))}); err != nil {
		t.Errorf("upload of exactly the limit: %v", err)
	}
}

func TestParseImage(t *testing.T) {
	for in, want := range map[string]string{
		"alpine":             "index.docker.io/library/alpine:latest",
		" alpine:3.20 ":      "index.docker.io/library/alpine:3.20",
		"ghcr.io/org/app:v1": "ghcr.io/org/app:v1",
		"localhost:5000/team/app@sha256:" + strings.Repeat("a", 64): "localhost:5000/team/app@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := job.ParseImage(in)
		if err != nil || got != want {
			t.Errorf("ParseImage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestQueueBound(t *testing.T) {
	// Workers not running: every accepted scan waits in the queue.
	h := newHarness(t, false, func(c *job.Config) { c.QueueSize = 2 })
	submit := func() error {
		_, err := h.svc.Submit(context.Background(), job.Request{Kind: job.KindSBOM, Upload: strings.NewReader("{}")})
		return err
	}
	for i := range 2 {
		if err := submit(); err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
	}
	before := counter(t, "kubeward_scan_job_rejections_total", map[string]string{"reason": "queue_full"})
	if err := submit(); !errors.Is(err, job.ErrQueueFull) {
		t.Fatalf("third scan: %v, want ErrQueueFull", err)
	}
	if after := counter(t, "kubeward_scan_job_rejections_total", map[string]string{"reason": "queue_full"}); after-before != 1 {
		t.Errorf("queue_full rejections grew by %v, want 1", after-before)
	}
	if left := h.spooled(t); len(left) != 2 {
		t.Errorf("%d spooled uploads, want the 2 queued ones", len(left))
	}
}

// blockingInventory holds every scan until release is closed.
type blockingInventory struct {
	started chan string
	release chan struct{}
}

func (b blockingInventory) inventory(ctx context.Context, target string, _ *slog.Logger) ([]scan.Package, error) {
	b.started <- target
	select {
	case <-b.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestShutdownFailsQueuedAndRunningScans(t *testing.T) {
	st := job.NewMemory()
	inv := blockingInventory{started: make(chan string, 4), release: make(chan struct{})}
	spool := t.TempDir()
	svc, err := job.New(job.Config{Store: st, Matcher: matcher(t), Publisher: inproc.New(inproc.Options{Logger: quiet}), SpoolDir: spool, Logger: quiet,
		Workers: 1, QueueSize: 4, Inventories: map[job.Kind]job.InventoryFunc{job.KindSBOM: inv.inventory}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var ids []string
	for range 3 {
		sc, err := svc.Submit(context.Background(), job.Request{Kind: job.KindSBOM, Upload: strings.NewReader("{}")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sc.ID)
	}
	<-inv.started // the first scan is running, the others queued
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for i, id := range ids {
		s, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != job.StateFailed || !strings.Contains(s.Error, "kubeward stopped") {
			t.Errorf("scan %d after shutdown: %s %q", i, s.State, s.Error)
		}
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Errorf("%d spooled uploads left after shutdown", len(entries))
	}
	if _, err := svc.Submit(context.Background(), job.Request{Kind: job.KindSBOM, Upload: strings.NewReader("{}")}); !errors.Is(err, job.ErrStopped) {
		t.Errorf("Submit after Run returned: %v, want ErrStopped", err)
	}
}

func TestRecoverFailsInterruptedAndRepublishes(t *testing.T) {
	ctx := context.Background()
	st := job.NewMemory()
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	mk := func(id string, state job.State) job.Scan {
		return job.Scan{ID: id, State: state, Kind: job.KindArchive, Target: "app-" + id, CreatedAt: at}
	}
	// What a crash leaves: one queued, one running, one done whose
	// findings were never published.
	for _, s := range []job.Scan{mk("q", job.StateQueued), mk("r", job.StateQueued), mk("d", job.StateQueued)} {
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"r", "d"} {
		if err := st.Start(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	res := jobtest.SampleResult(3, 5)
	if err := st.Complete(ctx, "d", at.Add(time.Minute), res); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, false, func(c *job.Config) { c.Store = st })
	if err := os.WriteFile(filepath.Join(h.spool, "kubeward-scan-upload-123"), []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"q", "r"} {
		if s, _ := st.Get(ctx, id); s.State != job.StateFailed || !strings.Contains(s.Error, "interrupted") {
			t.Errorf("scan %s after Recover: %s %q", id, s.State, s.Error)
		}
	}
	if left := h.spooled(t); len(left) != 0 {
		t.Errorf("Recover left stale uploads: %v", left)
	}
	if s, _ := st.Get(ctx, "d"); s.State != job.StateDone || !s.Published {
		t.Errorf("done scan after Recover: %+v", s)
	}
	msgs := h.published(t, "d")
	if len(msgs) != len(res.Findings) {
		t.Fatalf("%d findings republished, want %d", len(msgs), len(res.Findings))
	}
	want := job.SortFindings(res.Findings)
	for i, m := range msgs {
		if m.Finding.AdvisoryID != want[i].AdvisoryID || m.Finding.Severity.Level != want[i].Severity.Level || !m.Time.Equal(at.Add(time.Minute)) {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	// A second start publishes nothing again.
	if err := h.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(h.published(t, "d")); n != len(res.Findings) {
		t.Errorf("a second Recover republished: %d messages", n)
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	res := jobtest.SampleResult(4, 9)
	sc := job.Scan{ID: "x", Kind: job.KindImage, Target: "ghcr.io/org/app:v1", FinishedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	msgs, err := job.Messages(sc, res.Findings)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if m.Topic != job.Topic || m.Key != sc.Target {
			t.Errorf("message %d on %s keyed %q", i, m.Topic, m.Key)
		}
		got, err := job.DecodeMessage(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		want := job.FindingMessage{ScanID: sc.ID, Kind: sc.Kind, Target: sc.Target, Time: sc.FinishedAt, Finding: res.Findings[i]}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d decodes to %+v, want %+v", i, got, want)
		}
	}
}

// BenchmarkScanAlpineUpload measures a scan of the shared alpine:3.11
// `docker save` archive through the service: spool, inventory, match,
// store, publish.
func BenchmarkScanAlpineUpload(b *testing.B) {
	archive, err := os.ReadFile(jobtest.AlpineArchive(b, "3.11"))
	if err != nil {
		b.Fatal(err)
	}
	db, err := vulndb.Open(context.Background(), vulndbtest.SharedDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bs := inproc.New(inproc.Options{Logger: quiet})
	defer bs.Close()
	st := job.NewMemory()
	svc, err := job.New(job.Config{Store: st, Matcher: &scan.Matcher{DB: db, Log: quiet}, Publisher: bs, SpoolDir: b.TempDir(), Logger: quiet, Workers: 1, QueueSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = svc.Run(ctx) }()
	for b.Loop() {
		sc, err := svc.Submit(ctx, job.Request{Kind: job.KindArchive, Upload: bytes.NewReader(archive)})
		if err != nil {
			b.Fatal(err)
		}
		for {
			s, err := st.Get(ctx, sc.ID)
			if err != nil {
				b.Fatal(err)
			}
			if s.State == job.StateFailed {
				b.Fatal(s.Error)
			}
			if s.State == job.StateDone && s.Published {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}
