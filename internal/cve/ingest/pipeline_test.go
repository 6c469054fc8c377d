package ingest_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kubeward/kubeward/internal/archive"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/bus/kafka"
	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/cve/feed"
	"github.com/kubeward/kubeward/internal/cve/feedtest"
	"github.com/kubeward/kubeward/internal/cve/ingest"
	"github.com/kubeward/kubeward/internal/deadletter"
	"github.com/kubeward/kubeward/internal/pgtest"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/postgres"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// quiet keeps the test output to warnings.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// pipeline is one store + bus combination under test.
type pipeline struct {
	name string
	st   store.Store
	bus  bus.Bus
}

type backend struct {
	name string
	open func(t *testing.T) pipeline
}

// backends are the two deployments the issue names: the embedded default
// (in-process bus into SQLite) and the fleet (Kafka protocol through an
// in-process kfake cluster into a real PostgreSQL server).
var backends = []backend{
	{"inproc-sqlite", openInprocSQLite},
	{"kafka-postgres", openKafkaPostgres},
}

func openInprocSQLite(t *testing.T) pipeline {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kubeward.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	b := inproc.New(inproc.Options{})
	t.Cleanup(func() { b.Close() })
	return pipeline{"inproc-sqlite", st, b}
}

func openKafkaPostgres(t *testing.T) pipeline {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	b, err := kafka.New(ctx, kafka.Options{
		Brokers: c.ListenAddrs(), Partitions: 4, Linger: time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		Logger: quiet,
	})
	if err != nil {
		t.Fatalf("kafka bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return pipeline{"kafka-postgres", st, b}
}

// consumer runs an ingest consumer (and the dead-letter recorder) until
// stop is called; stop returns the consumer's error.
type consumer struct {
	c      *ingest.Consumer
	cancel context.CancelFunc
	done   chan error
}

func startConsumer(t *testing.T, p pipeline, onBatch func(n int)) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &ingest.Consumer{Store: p.st, Logger: quiet}
	h := bus.Handler(c.Handle)
	if onBatch != nil {
		h = func(ctx context.Context, batch []bus.Message) error {
			err := c.Handle(ctx, batch)
			onBatch(len(batch))
			return err
		}
	}
	if d, ok := p.bus.(bus.GroupDeclarer); ok {
		if err := d.DeclareGroup(ingest.Group, ingest.Topic); err != nil {
			t.Fatal(err)
		}
		if err := d.DeclareGroup(deadletter.Group, bus.DeadLetterTopic(ingest.Topic)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 2)
	go func() { done <- p.bus.Consume(ctx, ingest.Options(), h) }()
	rec := &deadletter.Recorder{Store: p.st}
	go func() { done <- rec.Run(ctx, p.bus, ingest.Topic) }()
	cons := &consumer{c: c, cancel: cancel, done: done}
	t.Cleanup(func() { cons.stop() })
	return cons
}

func (c *consumer) stop() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	c.cancel = nil
	return errors.Join(<-c.done, <-c.done)
}

func drain(t *testing.T, b bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d, ok := b.(bus.Drainer)
	if !ok {
		t.Fatalf("%T does not implement bus.Drainer", b)
	}
	if err := d.WaitIdle(ctx); err != nil {
		t.Fatalf("drain bus: %v", err)
	}
}

// maxVersions bounds the writes of a correct pipeline: one per record of
// every asset applied (each later publication of a record replaces the
// stored one). Fewer happen when versions of a record meet in one batch
// (the latest wins); never more, however often records are redelivered.
func maxVersions(f *feedtest.Feed) int64 {
	n := int64(f.Baseline.Records)
	for _, d := range f.Deltas {
		n += int64(d.Records)
	}
	return n
}

// finalRecords maps each record of the final release
// (vulnrichment-records.tar.gz) to the SHA-256 of its canonical JSON.
var finalRecords = sync.OnceValues(func() (map[string]string, error) {
	dir, err := feedtest.DataDir()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = archive.Walk(context.Background(), filepath.Join(dir, "cve", "vulnrichment-records.tar.gz"), archive.Options{}, func(e archive.Entry) error {
		if e.Err != nil {
			return e.Err
		}
		id, err := cve.PeekID(e.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		h, err := canonicalHash(e.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		out[id] = h
		return nil
	})
	return out, err
})

// canonicalHash hashes a JSON document with its formatting and key order
// normalized: the release re-serializes some records without changing
// their content or dateUpdated.
func canonicalHash(data []byte) (string, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// verifyStore checks the store holds exactly the final release: the same
// IDs, every dateUpdated and state, the content of every record, and for a
// sample the normalized rows rebuilt equal a fresh parse of the raw record
// (so no child row was duplicated or lost).
func verifyStore(t *testing.T, st store.Store, sampleEvery int) {
	t.Helper()
	ctx := context.Background()
	want := feedtest.Expected(t)
	content, err := finalRecords()
	if err != nil {
		t.Fatalf("read final release: %v", err)
	}
	seen := 0
	err = st.CVEVersions(ctx, func(id, dateUpdated, state string) error {
		seen++
		w, ok := want[id]
		switch {
		case !ok:
			return fmt.Errorf("store holds %s, which the final release does not", id)
		case w.DateUpdated != dateUpdated:
			return fmt.Errorf("%s: dateUpdated %q, want %q", id, dateUpdated, w.DateUpdated)
		case w.State != state:
			return fmt.Errorf("%s: state %q, want %q", id, state, w.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Fatalf("store holds %d records, want %d", seen, len(want))
	}
	stats, err := st.CVEStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Records != 44130 || stats.Rejected != 104 {
		t.Fatalf("stats %+v, want 44130 records and 104 rejected", stats)
	}
	i := 0
	for id, wantHash := range content {
		i++
		d, err := st.GetCVE(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		got, err := canonicalHash(d.Record.Raw)
		if err != nil {
			t.Fatalf("%s: stored raw record is not JSON: %v", id, err)
		}
		if got != wantHash {
			t.Fatalf("%s: stored record's content differs from the final release", id)
		}
		if i%sampleEvery != 0 {
			continue
		}
		fresh, err := cve.Parse(d.Record.Raw)
		if err != nil {
			t.Fatalf("%s: stored raw record does not parse: %v", id, err)
		}
		gotJSON, _ := json.Marshal(d.Record)
		wantJSON, _ := json.Marshal(fresh)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("%s: normalized rows differ from the record:\n got  %s\n want %s", id, gotJSON, wantJSON)
		}
	}
}

// TestFeedToStore follows the whole feed — baseline and all 40 deltas —
// through the bus into the store, then replays every delta, then syncs
// again: the store must equal the final release exactly each time.
func TestFeedToStore(t *testing.T) {
	f := feedtest.New(t)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			p := be.open(t)
			cons := startConsumer(t, p, nil)
			prod, err := feed.New(feed.Config{BaseURL: f.URL, ApplyEveryDelta: true, Logger: quiet}, p.bus, p.st)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := prod.Sync(ctx)
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if len(sum.Assets) != 1+len(f.Deltas) {
				t.Fatalf("sync applied %d assets, want baseline + %d deltas", len(sum.Assets), len(f.Deltas))
			}
			drain(t, p.bus)
			written, _, rejected := cons.c.Counts()
			if written < 44130 || written > maxVersions(f) || rejected != 0 {
				t.Fatalf("written %d (want 44,130 to %d), rejected %d (want 0)", written, maxVersions(f), rejected)
			}
			verifyStore(t, p.st, 25)

			// Replaying every delta changes nothing.
			var paths []string
			for _, d := range f.Deltas {
				paths = append(paths, d.Path)
			}
			rs, err := feed.Ingest(ctx, p.bus, paths, feed.IngestOptions{Logger: quiet})
			if err != nil {
				t.Fatalf("replay deltas: %v", err)
			}
			drain(t, p.bus)
			w2, skipped, _ := cons.c.Counts()
			if w2 != written {
				t.Fatalf("replaying the deltas wrote %d records, want 0", w2-written)
			}
			if skipped < int64(rs.Records) {
				t.Fatalf("replay: %d records re-sent but only %d skipped", rs.Records, skipped)
			}
			verifyStore(t, p.st, 1000)

			// A second sync finds nothing new.
			again, err := prod.Sync(ctx)
			if err != nil {
				t.Fatalf("second sync: %v", err)
			}
			if again.Records != 0 {
				t.Fatalf("second sync published %d records, want 0", again.Records)
			}
			if err := cons.stop(); err != nil {
				t.Fatalf("consumer: %v", err)
			}
		})
	}
}

// TestConsumerRestartMidStream cancels the consumer while the feed is
// streaming in and starts a new one in the same group: nothing is lost and
// no version is written twice.
func TestConsumerRestartMidStream(t *testing.T) {
	f := feedtest.New(t)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			p := be.open(t)
			var handled atomic.Int64
			first := startConsumer(t, p, func(n int) { handled.Add(int64(n)) })
			prod, err := feed.New(feed.Config{BaseURL: f.URL, ApplyEveryDelta: true, Logger: quiet}, p.bus, p.st)
			if err != nil {
				t.Fatal(err)
			}
			syncErr := make(chan error, 1)
			go func() { _, err := prod.Sync(ctx); syncErr <- err }()

			// Let the first consumer handle part of the stream, then stop it.
			deadline := time.Now().Add(10 * time.Minute)
			for handled.Load() < 10000 {
				if time.Now().After(deadline) {
					t.Fatalf("first consumer handled only %d records", handled.Load())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := first.stop(); err != nil {
				t.Fatalf("first consumer: %v", err)
			}
			w1, _, _ := first.c.Counts()
			if w1 == 0 || w1 >= 44130 {
				t.Fatalf("first consumer wrote %d records: the restart did not happen mid-stream", w1)
			}

			second := startConsumer(t, p, nil)
			if err := <-syncErr; err != nil {
				t.Fatalf("sync: %v", err)
			}
			drain(t, p.bus)
			w2, _, rej := second.c.Counts()
			if got := w1 + w2; got < 44130 || got > maxVersions(f) {
				t.Fatalf("written %d + %d = %d versions, want 44,130 to %d", w1, w2, got, maxVersions(f))
			}
			if rej != 0 {
				t.Fatalf("%d records rejected", rej)
			}
			verifyStore(t, p.st, 50)
		})
	}
}

// TestMalformedInputIsDeadLettered feeds every kind of bad input the issue
// names next to good records: the good ones are stored, each bad one gets a
// dead-letter entry with its reason and a metric, and nothing stored
// before is lost.
func TestMalformedInputIsDeadLettered(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			p := be.open(t)
			startConsumer(t, p, nil)
			dir := t.TempDir()

			// Good records first, from the real data.
			good := realRecords(t, 3)
			goodPath := filepath.Join(dir, "good.zip")
			writeZip(t, goodPath, good)
			if _, err := feed.Ingest(ctx, p.bus, []string{goodPath}, feed.IngestOptions{Logger: quiet}); err != nil {
				t.Fatal(err)
			}
			drain(t, p.bus)
			before, err := p.st.CVEStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if before.Records != len(good) {
				t.Fatalf("stored %d good records, want %d", before.Records, len(good))
			}

			var firstGood []byte
			var firstName string
			for name, data := range good {
				firstName, firstGood = name, data
				break
			}
			truncated := firstGood[:len(firstGood)/2]
			badVersion := bytes.Replace(firstGood, []byte(`"dataVersion": "5.`), []byte(`"dataVersion": "9.`), 1)
			badVersion = bytes.Replace(badVersion, []byte(`"dataVersion":"5.`), []byte(`"dataVersion":"9.`), 1)
			if bytes.Equal(badVersion, firstGood) {
				t.Fatalf("could not rewrite dataVersion of %s", firstName)
			}
			noID := []byte(`{"dataType":"CVE_RECORD","dataVersion":"5.1","cveMetadata":{"state":"PUBLISHED","dateUpdated":"2024-10-01T00:00:00Z"},"containers":{"cna":{"providerMetadata":{"orgId":"x"},"descriptions":[{"lang":"en","value":"x"}]}}}`)
			badPath := filepath.Join(dir, "bad.zip")
			writeZip(t, badPath, map[string][]byte{
				"cves/2024/0xxx/CVE-2024-0001.json": truncated,
				"cves/2024/0xxx/CVE-2024-0002.json": badVersion,
				"cves/2024/0xxx/CVE-2024-0003.json": noID,
				"../../etc/CVE-2024-0004.json":      firstGood,
			})
			bombPath := filepath.Join(dir, "bomb.zip")
			writeBomb(t, bombPath)

			feedRejectedBefore := metricSum(t, "kubeward_cve_feed_rejected_total")
			ingestRejectedBefore := metricSum(t, "kubeward_cve_ingest_rejected_total")
			sum, err := feed.Ingest(ctx, p.bus, []string{badPath}, feed.IngestOptions{Logger: quiet})
			if err != nil {
				t.Fatalf("a bad entry must not stop the ingest: %v", err)
			}
			if sum.Rejected != 1 {
				t.Fatalf("reader refused %d entries, want 1 (the path-traversal entry)", sum.Rejected)
			}
			_, bombErr := feed.Ingest(ctx, p.bus, []string{bombPath}, feed.IngestOptions{Logger: quiet})
			if bombErr == nil || !strings.Contains(strings.ToLower(bombErr.Error()), "ratio") && !strings.Contains(strings.ToLower(bombErr.Error()), "limit") && !strings.Contains(strings.ToLower(bombErr.Error()), "bomb") {
				t.Fatalf("zip bomb: got error %v, want a refusal that names the limit", bombErr)
			}
			drain(t, p.bus)

			after, err := p.st.CVEStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Records != before.Records {
				t.Fatalf("records after bad input: %d, want %d (nothing stored may be lost or added)", after.Records, before.Records)
			}
			dls := waitDeadLetters(t, p.st, 5)
			if got := metricSum(t, "kubeward_cve_feed_rejected_total") - feedRejectedBefore; got < 2 {
				t.Errorf("kubeward_cve_feed_rejected_total rose by %v, want ≥ 2 (traversal entry, bomb)", got)
			}
			if got := metricSum(t, "kubeward_cve_ingest_rejected_total") - ingestRejectedBefore; got != 3 {
				t.Errorf("kubeward_cve_ingest_rejected_total rose by %v, want 3 (truncated, bad version, no ID)", got)
			}
			reasons := map[string]string{}
			bombLetter := false
			for _, dl := range dls {
				reasons[dl.Key] = dl.Reason
				if strings.Contains(dl.Key+dl.Reason, "bomb.zip") {
					bombLetter = true
				}
			}
			if !bombLetter {
				t.Errorf("no dead letter names the refused archive bomb.zip (have %v)", reasons)
			}
			for key, want := range map[string]string{
				"CVE-2024-0001": "json",
				"CVE-2024-0002": "version",
				"CVE-2024-0003": "cveid",
				"CVE-2024-0004": "unsafe",
			} {
				got, ok := reasons[key]
				if !ok {
					t.Errorf("no dead letter for %s (have %v)", key, reasons)
					continue
				}
				if !strings.Contains(strings.ToLower(strings.ReplaceAll(got, " ", "")), want) {
					t.Errorf("dead letter for %s says %q, want it to mention %q", key, got, want)
				}
			}
		})
	}
}

// metricSum adds up every series of the named metric in the default
// registry.
func metricSum(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func waitDeadLetters(t *testing.T, st store.Store, n int) []store.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		dls, err := st.ListDeadLetters(context.Background(), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) >= n || time.Now().After(deadline) {
			return dls
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// realRecords cuts n records from the real baseline archive.
func realRecords(t *testing.T, n int) map[string][]byte {
	t.Helper()
	f := feedtest.New(t)
	out := map[string][]byte{}
	zr, err := zip.OpenReader(f.Deltas[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if !strings.HasSuffix(e.Name, ".json") || !strings.Contains(e.Name, "CVE-") {
			continue
		}
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name] = data
		if len(out) == n {
			break
		}
	}
	if len(out) != n {
		t.Fatalf("found %d records in %s, want %d", len(out), f.Deltas[0].Path, n)
	}
	return out
}

func writeZip(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeBomb writes a zip whose one entry claims 2 GB uncompressed: the
// reader must refuse it from the header, before inflating anything.
func writeBomb(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	payload := bytes.Repeat([]byte{0}, 1024)
	h := &zip.FileHeader{
		Name:               "cves/2024/0xxx/CVE-2024-9999.json",
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(payload),
		CompressedSize64:   uint64(len(payload)),
		UncompressedSize64: 2 << 30,
	}
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
