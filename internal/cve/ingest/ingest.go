// Package ingest is the CVE consumer: it reads raw CVE records from the bus,
// parses them and upserts them into the store. Offsets are committed by the
// bus only after the store transaction committed, so a crash never loses a
// record; replays are harmless because the store keeps the newest
// dateUpdated per CVE.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/cve/feed"
	"github.com/kubeward/kubeward/internal/store"
)

// Topic carries one raw CVE JSON record per message, keyed by CVE ID.
const Topic = feed.Topic

// Group is the consumer group of the CVE ingest consumers.
const Group = "kubeward-cve-ingest"

var (
	recordsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_ingest_records_total",
		Help: "CVE records consumed, by outcome (written, skipped = not newer than stored, rejected).",
	}, []string{"outcome"})
	rejectedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_cve_ingest_rejected_total",
		Help: "CVE records that could not be parsed and were dead-lettered, by reason.",
	}, []string{"reason"})
	batchSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "kubeward_cve_ingest_batch_duration_seconds",
		Help:    "Time to parse and store one batch of CVE records.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
)

// Consumer turns bus batches into store upserts.
type Consumer struct {
	Store  store.CVEStore
	Logger *slog.Logger
	// Workers parse records in parallel (default GOMAXPROCS).
	Workers int
	// Writers splits each batch by CVE ID into this many store
	// transactions run concurrently (default 1). Worth 2 or more on
	// PostgreSQL, where transactions on disjoint IDs run in parallel;
	// SQLite serializes writers anyway.
	Writers int

	written, skipped, rejected atomic.Int64
}

// Counts returns how many records this consumer wrote, skipped as not
// newer than the stored version, and rejected.
func (c *Consumer) Counts() (written, skipped, rejected int64) {
	return c.written.Load(), c.skipped.Load(), c.rejected.Load()
}

// Options returns the consume options of the CVE ingest group.
func Options() bus.ConsumeOptions {
	return bus.ConsumeOptions{Group: Group, Topics: []string{Topic}, MaxBatch: 500}
}

// Run consumes until ctx is cancelled.
func (c *Consumer) Run(ctx context.Context, b bus.Bus) error {
	return b.Consume(ctx, Options(), c.Handle)
}

var errKeyMismatch = errors.New("message key does not match the record's CVE ID")

type parsed struct {
	rec *cve.Record
	err error
}

// Handle parses and stores one batch. Records that cannot be parsed, or
// whose message key does not match their CVE ID, are rejected (and so
// dead-lettered); the others are stored in one transaction.
func (c *Consumer) Handle(ctx context.Context, batch []bus.Message) error {
	timer := prometheus.NewTimer(batchSeconds)
	defer timer.ObserveDuration()

	results := c.parseAll(batch)
	recs := make([]*cve.Record, 0, len(batch))
	var rejected []bus.Rejected
	for i, r := range results {
		err := r.err
		if err == nil && batch[i].Key != "" && batch[i].Key != r.rec.ID {
			err = fmt.Errorf("%w: message key %q, record ID %q", errKeyMismatch, batch[i].Key, r.rec.ID)
		}
		if err != nil {
			rejectedTotal.WithLabelValues(reason(err)).Inc()
			rejected = append(rejected, bus.Rejected{Index: i, Err: err})
			continue
		}
		if ts := batch[i].Headers[feed.HeaderPublished]; ts != "" {
			t, perr := time.Parse(time.RFC3339Nano, ts)
			if perr != nil {
				rejectedTotal.WithLabelValues("bad_header").Inc()
				rejected = append(rejected, bus.Rejected{Index: i, Err: fmt.Errorf("header %s %q is not an RFC 3339 time: %w", feed.HeaderPublished, ts, perr)})
				continue
			}
			r.rec.Published = t.UTC()
		}
		recs = append(recs, r.rec)
	}
	if len(recs) > 0 {
		res, err := c.store(ctx, recs)
		if err != nil {
			return fmt.Errorf("store %d CVE records: %w", len(recs), err)
		}
		c.written.Add(int64(res.Written))
		c.skipped.Add(int64(res.Skipped))
		recordsTotal.WithLabelValues("written").Add(float64(res.Written))
		recordsTotal.WithLabelValues("skipped").Add(float64(res.Skipped))
	}
	if len(rejected) > 0 {
		c.rejected.Add(int64(len(rejected)))
		recordsTotal.WithLabelValues("rejected").Add(float64(len(rejected)))
		if c.Logger != nil {
			c.Logger.Warn("CVE records rejected", "count", len(rejected), "first", rejected[0].Err)
		}
	}
	return bus.Reject(rejected...)
}

// store writes recs, split by ID over c.Writers concurrent transactions.
// Every version of one ID lands in the same transaction, so the store still
// sees them together; a failure fails the batch, which is redelivered (the
// parts already written are skipped as not newer on the retry).
func (c *Consumer) store(ctx context.Context, recs []*cve.Record) (store.UpsertResult, error) {
	n := min(max(c.Writers, 1), len(recs))
	if n == 1 {
		return c.Store.UpsertCVEs(ctx, recs)
	}
	parts := make([][]*cve.Record, n)
	for _, r := range recs {
		h := fnv.New32a()
		_, _ = h.Write([]byte(r.ID))
		i := int(h.Sum32() % uint32(n))
		parts[i] = append(parts[i], r)
	}
	results := make([]store.UpsertResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, part := range parts {
		if len(part) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Store.UpsertCVEs(ctx, part)
		}()
	}
	wg.Wait()
	var total store.UpsertResult
	for _, r := range results {
		total.Written += r.Written
		total.Skipped += r.Skipped
	}
	return total, errors.Join(errs...)
}

func (c *Consumer) parseAll(batch []bus.Message) []parsed {
	out := make([]parsed, len(batch))
	workers := c.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > len(batch) {
		workers = len(batch)
	}
	if workers <= 1 {
		for i := range batch {
			out[i].rec, out[i].err = cve.Parse(batch[i].Value)
		}
		return out
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batch); i += workers {
				out[i].rec, out[i].err = cve.Parse(batch[i].Value)
			}
		}()
	}
	wg.Wait()
	return out
}

func reason(err error) string {
	switch {
	case errors.Is(err, cve.ErrMalformedJSON):
		return "malformed_json"
	case errors.Is(err, cve.ErrUnsupportedVersion):
		return "unsupported_version"
	case errors.Is(err, cve.ErrMissingID):
		return "missing_id"
	case errors.Is(err, cve.ErrNotCVERecord):
		return "not_cve_record"
	case errors.Is(err, cve.ErrInvalidField):
		return "invalid_field"
	case errors.Is(err, errKeyMismatch):
		return "key_mismatch"
	default:
		return "invalid"
	}
}
