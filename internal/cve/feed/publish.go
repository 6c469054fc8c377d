package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kubeward/kubeward/internal/archive"
	"github.com/kubeward/kubeward/internal/bus"
)

// Topic is the bus topic CVE records are published to, one message per
// record keyed by CVE ID with the record's raw JSON as value.
const Topic = "cve.records"

// Header names set on published messages.
const (
	// HeaderAsset names the feed asset (or ingested file) a record came from.
	HeaderAsset = "kubeward-cve-asset"
	// HeaderEntry is the record's path inside the asset.
	HeaderEntry = "kubeward-cve-entry"
	// HeaderPublished is the RFC 3339 time the asset was published (its
	// release time), when known. The store orders versions of a record by
	// it before dateUpdated: the feed is authoritative and does republish
	// records with an unchanged or earlier dateUpdated.
	HeaderPublished = "kubeward-published"
)

// DefaultBatchSize is how many messages go into one Publish call.
const DefaultBatchSize = 500

var cveFileName = regexp.MustCompile(`^(CVE-\d{4}-\d{4,})\.json$`)

// RecordID returns the CVE ID of a record file: from its name
// (CVE-YYYY-NNNN.json), else from cveMetadata.cveId in its JSON. It returns
// "" for JSON files that are not CVE records (delta.json, deltaLog.json).
func RecordID(name string, data []byte) string {
	if m := cveFileName.FindStringSubmatch(path.Base(name)); m != nil {
		return m[1]
	}
	var doc struct {
		CVEMetadata struct {
			CVEID string `json:"cveId"`
		} `json:"cveMetadata"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return ""
	}
	id := strings.TrimSpace(doc.CVEMetadata.CVEID)
	if !strings.HasPrefix(id, "CVE-") {
		return ""
	}
	return id
}

// Progress reports how far a sync or ingest has come. It is delivered after
// every batch and when an asset is done.
type Progress struct {
	// Asset is the asset (or file) being published.
	Asset string
	// Index is the asset's position (1-based) among Count assets.
	Index, Count int
	// Records and Rejected count this asset's messages so far.
	Records, Rejected int
	// Done is set on the last report of an asset.
	Done bool
}

// assetStats counts what publishing one asset did.
type assetStats struct {
	records, rejected, skipped int
}

// recordPublisher turns archive entries into bus messages.
type recordPublisher struct {
	pub       bus.Publisher
	batchSize int
	archive   archive.Options
	progress  func(Progress)
	log       *slog.Logger
}

// publishFile publishes every record of the file at p (any format the
// archive package reads) and returns once the bus acknowledged all of them.
// Entries the archive refuses go to the dead-letter topic.
func (rp *recordPublisher) publishFile(ctx context.Context, p, assetName string, published time.Time, index, count int) (assetStats, error) {
	var st assetStats
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []bus.Message, 2)
	// Reading and inflating overlap with publishing: one goroutine walks the
	// archive, the other publishes full batches in order.
	g.Go(func() error {
		for batch := range batches {
			if err := rp.pub.Publish(gctx, batch...); err != nil {
				errorsTotal.WithLabelValues("publish").Inc()
				return fmt.Errorf("cve feed: publishing records of %s: %w", assetName, err)
			}
			var records, rejected int
			for _, m := range batch {
				if m.Topic == Topic {
					records++
				} else {
					rejected++
				}
			}
			recordsPublished.Add(float64(records))
			st.records += records
			st.rejected += rejected
			rp.report(Progress{Asset: assetName, Index: index, Count: count, Records: st.records, Rejected: st.rejected})
		}
		return nil
	})
	g.Go(func() error {
		defer close(batches)
		batch := make([]bus.Message, 0, rp.batchSize)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			select {
			case batches <- batch:
			case <-gctx.Done():
				return gctx.Err()
			}
			batch = make([]bus.Message, 0, rp.batchSize)
			return nil
		}
		err := archive.Walk(gctx, p, rp.archive, func(e archive.Entry) error {
			if m, ok := rp.message(e, assetName, published, &st); ok {
				batch = append(batch, m)
				if len(batch) >= rp.batchSize {
					return flush()
				}
			}
			return nil
		})
		if err != nil {
			errorsTotal.WithLabelValues("archive").Inc()
			return fmt.Errorf("cve feed: reading %s: %w", assetName, err)
		}
		return flush()
	})
	if err := g.Wait(); err != nil {
		if reason := archive.Reason(err); reason != "other" && ctx.Err() == nil {
			// The archive as a whole was refused (bomb, corrupt, too
			// large): leave a dead letter naming it, so the refusal is
			// visible where refused records are.
			rejectedTotal.WithLabelValues(reason).Inc()
			dl := bus.Message{
				Topic: bus.DeadLetterTopic(Topic),
				Key:   assetName,
				Headers: map[string]string{
					bus.HeaderDLQReason: reason + ": " + err.Error(),
					bus.HeaderDLQTopic:  Topic,
					bus.HeaderDLQTime:   time.Now().UTC().Format(time.RFC3339Nano),
					HeaderAsset:         assetName,
				},
			}
			if perr := rp.pub.Publish(ctx, dl); perr != nil {
				err = errors.Join(err, fmt.Errorf("cve feed: dead-lettering refused archive %s: %w", assetName, perr))
			} else {
				st.rejected++
			}
		}
		return st, err
	}
	rp.report(Progress{Asset: assetName, Index: index, Count: count, Records: st.records, Rejected: st.rejected, Done: true})
	return st, nil
}

// message turns an entry into a record or dead-letter message; ok is false
// for entries that are not CVE records. It runs on the walking goroutine
// only, so it may update st.skipped.
func (rp *recordPublisher) message(e archive.Entry, assetName string, published time.Time, st *assetStats) (bus.Message, bool) {
	if e.Err != nil {
		reason := archive.Reason(e.Err)
		rejectedTotal.WithLabelValues(reason).Inc()
		rp.log.Warn("cve feed: archive entry refused", "asset", assetName, "entry", e.Name, "reason", reason, "err", e.Err)
		key := e.Name
		if m := cveFileName.FindStringSubmatch(path.Base(e.Name)); m != nil {
			key = m[1]
		}
		return bus.Message{
			Topic: bus.DeadLetterTopic(Topic),
			Key:   key,
			Headers: map[string]string{
				bus.HeaderDLQReason: reason + ": " + e.Err.Error(),
				bus.HeaderDLQTopic:  Topic,
				bus.HeaderDLQTime:   time.Now().UTC().Format(time.RFC3339Nano),
				HeaderAsset:         assetName,
				HeaderEntry:         e.Name,
			},
		}, true
	}
	id := RecordID(e.Name, e.Data)
	if id == "" {
		st.skipped++
		rp.log.Debug("cve feed: skipping JSON file that is not a CVE record", "asset", assetName, "entry", e.Name)
		return bus.Message{}, false
	}
	h := map[string]string{HeaderAsset: assetName, HeaderEntry: e.Name}
	if !published.IsZero() {
		h[HeaderPublished] = published.UTC().Format(time.RFC3339Nano)
	}
	return bus.Message{Topic: Topic, Key: id, Value: e.Data, Headers: h}, true
}

func (rp *recordPublisher) report(p Progress) {
	if rp.progress != nil {
		rp.progress(p)
	}
}
