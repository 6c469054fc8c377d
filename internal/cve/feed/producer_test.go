package feed_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cve/feed"
	"github.com/kubeward/kubeward/internal/cve/feedtest"
	"github.com/kubeward/kubeward/internal/store"
)

// recorder is a Publisher that keeps, per topic and key, the last value
// published, and can fail on demand.
type recorder struct {
	mu       sync.Mutex
	calls    int
	failAt   int // fail the failAt-th Publish call (1-based), 0 = never
	last     map[string][]byte
	assets   map[string]int // records published per asset header
	dlq      []bus.Message
	messages int
}

func newRecorder() *recorder {
	return &recorder{last: map[string][]byte{}, assets: map[string]int{}}
}

func (r *recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls == r.failAt {
		return errors.New("injected publish failure")
	}
	for _, m := range msgs {
		switch m.Topic {
		case feed.Topic:
			r.last[m.Key] = m.Value
			r.assets[m.Headers[feed.HeaderAsset]]++
			r.messages++
		case bus.DeadLetterTopic(feed.Topic):
			r.dlq = append(r.dlq, m)
		default:
			return errors.New("unexpected topic " + m.Topic)
		}
	}
	return nil
}

// memState is an in-memory store.StateStore.
type memState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemState() *memState { return &memState{m: map[string][]byte{}} }

func (s *memState) GetState(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return v, nil
}

func (s *memState) PutState(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newProducer(t testing.TB, baseURL string, pub bus.Publisher, st store.StateStore, mod func(*feed.Config)) *feed.Producer {
	t.Helper()
	cfg := feed.Config{BaseURL: baseURL, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, TempDir: t.TempDir(), Logger: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := feed.New(cfg, pub, st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantPlan is the spec of what a sync applies: after the position (or the
// baseline), the newest delta of each day, or every delta.
func wantPlan(f *feedtest.Feed, from, to int, baseline, every bool) (names []string, records int) {
	if baseline {
		names, records = append(names, f.Baseline.Name), f.Baseline.Records
	}
	ds := f.Deltas[from:to]
	for i, d := range ds {
		if !every && i+1 < len(ds) && ds[i+1].Time.Truncate(24*time.Hour).Equal(d.Time.Truncate(24*time.Hour)) {
			continue
		}
		names, records = append(names, d.Name), records+d.Records
	}
	return names, records
}

// checkFinalState compares the last version published of every record with
// vulnrichment-records.tar.gz, byte for byte.
func checkFinalState(t *testing.T, rec *recorder) {
	t.Helper()
	exp := feedtest.Expected(t)
	if len(rec.last) != len(exp) {
		t.Errorf("published %d distinct records, want %d", len(rec.last), len(exp))
	}
	bad := 0
	for id, v := range exp {
		data, ok := rec.last[id]
		sum := sha256.Sum256(data)
		if !ok || hex.EncodeToString(sum[:]) != v.SHA256 {
			if bad++; bad <= 5 {
				t.Errorf("%s: last published version differs from records.tar.gz (published=%v, want dateUpdated %s)", id, ok, v.DateUpdated)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d records differ from the expected final state", bad)
	}
}

func TestSyncFullFeed(t *testing.T) {
	f := feedtest.New(t)
	for _, every := range []bool{false, true} {
		name := "newest delta per day"
		if every {
			name = "every delta"
		}
		t.Run(name, func(t *testing.T) {
			rec, st := newRecorder(), newMemState()
			p := newProducer(t, f.URL, rec, st, func(c *feed.Config) { c.ApplyEveryDelta = every })
			before := metricValue(t, "kubeward_cve_feed_records_published_total")
			sum, err := p.Sync(context.Background())
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			names, records := wantPlan(f, 0, len(f.Deltas), true, every)
			if !reflect.DeepEqual(sum.Assets, names) {
				t.Errorf("applied %v, want %v", sum.Assets, names)
			}
			if sum.Records != records || rec.messages != records || sum.Rejected != 0 {
				t.Errorf("summary records=%d rejected=%d, published %d; want %d records", sum.Records, sum.Rejected, rec.messages, records)
			}
			if sum.Skipped != 2 {
				t.Errorf("skipped %d non-record JSON files, want 2 (cves/delta.json, cves/deltaLog.json)", sum.Skipped)
			}
			if d := metricValue(t, "kubeward_cve_feed_records_published_total") - before; int(d) != records {
				t.Errorf("records metric grew by %v, want %d", d, records)
			}
			checkFinalState(t, rec)

			last := f.Deltas[len(f.Deltas)-1]
			pos, err := p.Position(context.Background())
			if err != nil || pos == nil {
				t.Fatalf("Position: %v %v", pos, err)
			}
			if pos.Baseline != f.Baseline.Name || pos.Asset != last.Name || !pos.AssetTime.Equal(last.Time.Truncate(time.Minute)) {
				t.Errorf("position = %+v, want baseline %s and asset %s", pos, f.Baseline.Name, last.Name)
			}

			// The same producer again (the release list revalidates with
			// its ETag) and a restarted one both find nothing new.
			again, err := p.Sync(context.Background())
			if err != nil || len(again.Assets) != 0 || again.Records != 0 {
				t.Errorf("second sync: %+v, %v; want nothing applied", again, err)
			}
			restarted := newProducer(t, f.URL, rec, st, nil)
			again, err = restarted.Sync(context.Background())
			if err != nil || len(again.Assets) != 0 || again.Records != 0 {
				t.Errorf("sync after restart: %+v, %v; want nothing applied", again, err)
			}
		})
	}
}

func TestSyncFollowsNewDeltas(t *testing.T) {
	f := feedtest.New(t)
	defer f.Expose(len(f.Deltas))
	rec, st := newRecorder(), newMemState()
	steps := []int{10, 25, 25, 40}
	prev := 0
	for i, k := range steps {
		f.Expose(k)
		p := newProducer(t, f.URL, rec, st, nil) // a restart each time
		before := map[string]int{}
		for a, n := range rec.assets {
			before[a] = n
		}
		sum, err := p.Sync(context.Background())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		names, records := wantPlan(f, prev, k, i == 0, false)
		if !reflect.DeepEqual(sum.Assets, names) || sum.Records != records {
			t.Errorf("step %d (expose %d): applied %v (%d records), want %v (%d)", i, k, sum.Assets, sum.Records, names, records)
		}
		if i > 0 && rec.assets[f.Baseline.Name] != before[f.Baseline.Name] {
			t.Errorf("step %d re-published the baseline", i)
		}
		for a, n := range rec.assets {
			if n != before[a] && !contains(names, a) {
				t.Errorf("step %d published %d records of %s, which it should not have applied", i, n-before[a], a)
			}
		}
		prev = k
	}
	checkFinalState(t, rec)
}

func TestPositionSavedOnlyAfterAck(t *testing.T) {
	f := feedtest.New(t)
	defer f.Expose(len(f.Deltas))
	f.Expose(20)
	st := newMemState()

	// The 10th batch of the baseline fails: no position may be saved.
	rec := newRecorder()
	rec.failAt = 10
	p := newProducer(t, f.URL, rec, st, nil)
	if _, err := p.Sync(context.Background()); err == nil {
		t.Fatal("Sync succeeded although Publish failed")
	}
	if pos, err := p.Position(context.Background()); err != nil || pos != nil {
		t.Fatalf("position after a failed baseline = %+v, %v; want none", pos, err)
	}

	// Next run starts again from the baseline and gets through.
	rec = newRecorder()
	p = newProducer(t, f.URL, rec, st, nil)
	sum, err := p.Sync(context.Background())
	names, _ := wantPlan(f, 0, 20, true, false)
	if err != nil || !reflect.DeepEqual(sum.Assets, names) {
		t.Fatalf("retry sync = %v, %v; want %v", sum.Assets, err, names)
	}

	// A failure while publishing a delta keeps the position on the last
	// complete asset: here the second delta to apply fails.
	prevPos, _ := p.Position(context.Background())
	f.Expose(40)
	names, _ = wantPlan(f, 20, 40, false, false)
	if len(names) != 2 {
		t.Fatalf("test assumes two assets to apply, plan is %v", names)
	}
	rec = newRecorder()
	p = newProducer(t, f.URL, rec, st, func(c *feed.Config) { c.BatchSize = 1 << 20 }) // one Publish per asset
	rec.failAt = 2
	sum, err = p.Sync(context.Background())
	if err == nil {
		t.Fatal("Sync succeeded although Publish failed")
	}
	pos, _ := p.Position(context.Background())
	if !reflect.DeepEqual(sum.Assets, names[:1]) || pos == nil || pos.Asset != names[0] || pos.Baseline != prevPos.Baseline {
		t.Errorf("after a failure in %s: applied %v, position %+v; want %s applied and kept", names[1], sum.Assets, pos, names[0])
	}
	// And the next sync applies only the asset that failed.
	sum, err = newProducer(t, f.URL, newRecorder(), st, nil).Sync(context.Background())
	if err != nil || !reflect.DeepEqual(sum.Assets, names[1:]) {
		t.Errorf("resumed sync applied %v, %v; want %v", sum.Assets, err, names[1:])
	}
}

// positionAt returns a state store holding a position on delta k.
func positionAt(t *testing.T, f *feedtest.Feed, k int) *memState {
	t.Helper()
	st := newMemState()
	raw, err := json.Marshal(feed.Position{
		Baseline: f.Baseline.Name, BaselineTime: f.Baseline.Time,
		Asset: f.Deltas[k].Name, AssetTime: f.Deltas[k].Time.Truncate(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutState(context.Background(), feed.PositionKey, raw); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDownloadRetries(t *testing.T) {
	f := feedtest.New(t)
	f.Expose(3)
	f.FailNext(2)
	before := f.Requests("/download/")
	sum, err := newProducer(t, f.URL, newRecorder(), positionAt(t, f, 0), nil).Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync with 2 transient failures: %v", err)
	}
	names, _ := wantPlan(f, 1, 3, false, false)
	if !reflect.DeepEqual(sum.Assets, names) {
		t.Errorf("applied %v, want %v", sum.Assets, names)
	}
	if got, want := f.Requests("/download/")-before, len(sum.Assets)+2; got != want {
		t.Errorf("%d download requests, want %d (assets + 2 retries)", got, want)
	}

	f.FailNext(100)
	_, err = newProducer(t, f.URL, newRecorder(), positionAt(t, f, 0), func(c *feed.Config) { c.Retries = 2 }).Sync(context.Background())
	f.FailNext(0)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Sync against a failing server: %v; want a 503 error after retries", err)
	}
}

func TestMirrorDirectory(t *testing.T) {
	f := feedtest.New(t)
	dir := f.MirrorDir(t, 3)
	sum, err := newProducer(t, "file://"+dir, newRecorder(), newMemState(), nil).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names, records := wantPlan(f, 0, 3, true, false)
	if !reflect.DeepEqual(sum.Assets, names) || sum.Records != records {
		t.Errorf("applied %v (%d records), want %v (%d)", sum.Assets, sum.Records, names, records)
	}
}

func TestRefusedEntriesAreDeadLettered(t *testing.T) {
	dir := t.TempDir()
	writeZip(t, filepath.Join(dir, "2024-10-25_all_CVEs_at_midnight.zip"), map[string]string{
		"cves/2024/1xxx/CVE-2024-1000.json": `{"cveMetadata":{"cveId":"CVE-2024-1000"}}`,
	})
	writeZip(t, filepath.Join(dir, "2024-10-25_delta_CVEs_at_0100Z.zip"), map[string]string{
		"deltaCves/CVE-2024-1001.json":       `{"cveMetadata":{"cveId":"CVE-2024-1001"}}`,
		"../../deltaCves/CVE-2024-1002.json": `{}`,
		"/etc/CVE-2024-1003.json":            `{}`,
	})
	before := metricValue(t, "kubeward_cve_feed_rejected_total", "reason", "unsafe_path")
	rec := newRecorder()
	sum, err := newProducer(t, dir, rec, newMemState(), nil).Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 2 || sum.Rejected != 2 || len(sum.Assets) != 2 {
		t.Errorf("summary %+v; want 2 assets, 2 records, 2 rejected", sum)
	}
	if len(rec.dlq) != 2 {
		t.Fatalf("dead letters: %d, want 2", len(rec.dlq))
	}
	keys := map[string]bool{}
	for _, m := range rec.dlq {
		keys[m.Key] = true
		if !strings.HasPrefix(m.Headers[bus.HeaderDLQReason], "unsafe_path") || m.Headers[feed.HeaderAsset] != "2024-10-25_delta_CVEs_at_0100Z.zip" {
			t.Errorf("dead letter headers %v", m.Headers)
		}
	}
	if !keys["CVE-2024-1002"] || !keys["CVE-2024-1003"] {
		t.Errorf("dead letter keys %v, want the CVE IDs of the refused entries", keys)
	}
	if d := metricValue(t, "kubeward_cve_feed_rejected_total", "reason", "unsafe_path") - before; d != 2 {
		t.Errorf("rejected metric grew by %v, want 2", d)
	}
}

func TestIngest(t *testing.T) {
	data, err := feedtest.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	var last feed.Progress
	sum, err := feed.Ingest(context.Background(), rec, []string{filepath.Join(data, "cve", "vulnrichment-records.tar.gz")},
		feed.IngestOptions{Logger: quietLogger(), Progress: func(p feed.Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 44130 || !last.Done || last.Records != 44130 {
		t.Errorf("ingest summary %+v, last progress %+v; want 44130 records", sum, last)
	}
	checkFinalState(t, rec)

	_, err = feed.Ingest(context.Background(), rec, []string{filepath.Join(t.TempDir(), "missing.zip")}, feed.IngestOptions{Logger: quietLogger()})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ingest of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestCorruptPositionIsNotOverwritten(t *testing.T) {
	f := feedtest.New(t)
	st := newMemState()
	if err := st.PutState(context.Background(), feed.PositionKey, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	_, err := newProducer(t, f.URL, newRecorder(), st, nil).Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), feed.PositionKey) {
		t.Errorf("Sync with a corrupt position: %v; want an error naming the key", err)
	}
	if got, _ := st.GetState(context.Background(), feed.PositionKey); string(got) != "{not json" {
		t.Errorf("corrupt position was overwritten with %q", got)
	}
}

func writeZip(t *testing.T, p string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// metricValue reads a counter from the default registry; labels are
// name/value pairs the metric must carry.
func metricValue(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	record := func(id string) map[string]string {
		return map[string]string{"deltaCves/" + id + ".json": `{"cveMetadata":{"cveId":"` + id + `"}}`}
	}
	writeZip(t, filepath.Join(dir, "2024-10-25_all_CVEs_at_midnight.zip"), record("CVE-2024-0001"))
	writeZip(t, filepath.Join(dir, "2024-10-25_delta_CVEs_at_0100Z.zip"), record("CVE-2024-0002"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var applied []string
	rec := newRecorder()
	p := newProducer(t, dir, rec, newMemState(), func(c *feed.Config) {
		c.Progress = func(pr feed.Progress) {
			if !pr.Done {
				return
			}
			mu.Lock()
			applied = append(applied, pr.Asset)
			mu.Unlock()
			switch pr.Asset {
			case "2024-10-25_delta_CVEs_at_0100Z.zip":
				// The feed moves on; the next poll must pick it up.
				writeZip(t, filepath.Join(dir, "2024-10-25_delta_CVEs_at_0200Z.zip"), record("CVE-2024-0003"))
			case "2024-10-25_delta_CVEs_at_0200Z.zip":
				cancel()
			}
		}
	})
	if err := p.Run(ctx, time.Millisecond); err != nil {
		t.Fatalf("Run returned %v after cancellation, want nil", err)
	}
	want := []string{"2024-10-25_all_CVEs_at_midnight.zip", "2024-10-25_delta_CVEs_at_0100Z.zip", "2024-10-25_delta_CVEs_at_0200Z.zip"}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(applied, want) {
		t.Errorf("Run applied %v, want %v", applied, want)
	}
	if len(rec.last) != 3 {
		t.Errorf("published %d records, want 3", len(rec.last))
	}
	if err := p.Run(context.Background(), 0); err == nil {
		t.Error("Run with a zero interval succeeded")
	}
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, ...bus.Message) error { return nil }

// BenchmarkSyncFullFeed measures producer throughput over the whole local
// feed (baseline + all 40 deltas, over HTTP on 127.0.0.1) into a no-op
// publisher.
func BenchmarkSyncFullFeed(b *testing.B) {
	f := feedtest.New(b)
	records := 0
	b.ResetTimer()
	for b.Loop() {
		p := newProducer(b, f.URL, nopPublisher{}, newMemState(), func(c *feed.Config) { c.ApplyEveryDelta = true })
		sum, err := p.Sync(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		records += sum.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
