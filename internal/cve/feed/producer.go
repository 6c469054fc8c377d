// Package feed follows the CVE List V5 feed as CVEProject/cvelistV5
// publishes it on GitHub Releases, and publishes one bus message per CVE
// record on topic "cve.records".
//
// # The feed
//
// Every hourly release of cvelistV5 (tag cve_YYYY-MM-DD_HHMMZ) carries:
//
//   - the day's baseline, YYYY-MM-DD_all_CVEs_at_midnight.zip.zip: a zip
//     holding cves.zip, which holds every record as cves/YYYY/NNxxx/CVE-*.json
//     as of midnight UTC (a plain .zip is accepted too);
//   - a cumulative delta, YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip: every record
//     changed since midnight UTC, under deltaCves/; the day's last one is
//     YYYY-MM-DD_delta_CVEs_at_end_of_day.zip.
//
// The repository tree also has cves/deltaLog.json, a per-run change log. The
// producer does not need it: the release assets alone say which records
// changed, and the log lives in the git tree, not in the releases API.
//
// # Behaviour
//
// The first sync applies the newest baseline, then the deltas newer than
// it. Later syncs apply only the deltas past the remembered position; if
// those leave a gap (a whole day without a delta, e.g. because old releases
// were pruned) and a newer baseline exists, the producer starts again from
// that baseline. Because deltas are cumulative, only the newest delta of
// each day is applied unless Config.ApplyEveryDelta is set; the consumer
// upserts by dateUpdated, so either way the resulting store is the same.
//
// The position (baseline and last applied asset, with their times) is kept
// in a store.StateStore under PositionKey, written only after the bus
// acknowledged every record of an asset: a crash re-publishes at most one
// asset, which the idempotent consumer absorbs (at-least-once).
//
// BaseURL is either a GitHub-Releases-shaped API root
// (https://api.github.com/repos/CVEProject/cvelistV5) or a local directory
// holding the asset files (an air-gapped mirror).
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubeward/kubeward/internal/archive"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/store"
)

// PositionKey is the StateStore key of the producer's position.
const PositionKey = "cve.feed.position"

// DefaultBaseURL is the GitHub Releases API root of CVEProject/cvelistV5.
const DefaultBaseURL = "https://api.github.com/repos/CVEProject/cvelistV5"

// Config configures a Producer. Zero fields take the defaults.
type Config struct {
	// BaseURL is the releases API root (default DefaultBaseURL) or a local
	// directory of asset files (a plain path or a file:// URL).
	BaseURL string
	// Token is an optional bearer token (raises GitHub's API rate limit).
	// It is sent to the API host only, never to asset download hosts.
	Token string
	// UserAgent identifies kubeward to the feed (default "kubeward-cve-feed").
	UserAgent string
	// HTTPClient replaces the default client (which has connect, TLS and
	// response-header timeouts).
	HTTPClient *http.Client
	// RequestTimeout bounds one API request (default 60s); DownloadTimeout
	// bounds one asset download (default 30m).
	RequestTimeout, DownloadTimeout time.Duration
	// Retries is how often a failed request (network error, 429, 5xx) is
	// retried (default 4; negative: never), waiting Backoff, doubled per
	// attempt up to MaxBackoff (defaults 1s and 30s).
	Retries             int
	Backoff, MaxBackoff time.Duration
	// PerPage and MaxPages bound the release listing (defaults 100 and 50).
	PerPage, MaxPages int
	// MaxListBytes bounds one API response (default 32 MiB); MaxAssetBytes
	// bounds one asset download (default 4 GiB).
	MaxListBytes, MaxAssetBytes int64
	// TempDir is where downloads are spooled (default os.TempDir()).
	TempDir string
	// BatchSize is the number of messages per Publish call (default 500).
	BatchSize int
	// ApplyEveryDelta applies every delta instead of only the newest of
	// each day.
	ApplyEveryDelta bool
	// Archive bounds what is read from an asset.
	Archive archive.Options
	// Progress, when set, is called as records are published, from one
	// goroutine at a time.
	Progress func(Progress)
	// Logger receives the producer's logs (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.UserAgent == "" {
		c.UserAgent = "kubeward-cve-feed"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = time.Minute
	}
	if c.DownloadTimeout <= 0 {
		c.DownloadTimeout = 30 * time.Minute
	}
	if c.Retries == 0 {
		c.Retries = 4
	}
	c.Retries = max(c.Retries, 0)
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.PerPage <= 0 || c.PerPage > 100 {
		c.PerPage = 100
	}
	if c.MaxPages <= 0 {
		c.MaxPages = 50
	}
	if c.MaxListBytes <= 0 {
		c.MaxListBytes = 32 << 20
	}
	if c.MaxAssetBytes <= 0 {
		c.MaxAssetBytes = 4 << 30
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Archive.TempDir == "" {
		c.Archive.TempDir = c.TempDir
	}
	return c
}

// Position is where the producer is in the feed.
type Position struct {
	// Baseline is the name of the baseline the producer started from, and
	// BaselineTime the moment it is current as of.
	Baseline     string    `json:"baseline"`
	BaselineTime time.Time `json:"baselineTime"`
	// Asset is the last asset applied completely, and AssetTime the
	// moment it is current as of.
	Asset     string    `json:"asset"`
	AssetTime time.Time `json:"assetTime"`
	// AppliedAt is when Asset was applied.
	AppliedAt time.Time `json:"appliedAt"`
}

// Summary says what a sync or ingest did.
type Summary struct {
	// Assets lists the assets (or files) applied, in order.
	Assets []string `json:"assets"`
	// Records counts messages published on Topic.
	Records int `json:"records"`
	// Rejected counts entries sent to the dead-letter topic.
	Rejected int `json:"rejected"`
	// Skipped counts JSON files that were not CVE records.
	Skipped int `json:"skipped"`
	// Position is the position after the sync (zero for an ingest).
	Position Position `json:"position"`
	// Gap is set when the deltas past the position seemed to miss changes
	// and no newer baseline was listed to restart from.
	Gap bool `json:"gap,omitempty"`
}

// Producer follows the feed and publishes its records.
type Producer struct {
	cfg   Config
	src   source
	state store.StateStore
	rp    *recordPublisher
	log   *slog.Logger
	mu    sync.Mutex // one sync at a time
}

// New builds a Producer publishing to pub and keeping its position in state.
func New(cfg Config, pub bus.Publisher, state store.StateStore) (*Producer, error) {
	if pub == nil || state == nil {
		return nil, errors.New("cve feed: a publisher and a state store are required")
	}
	cfg = cfg.withDefaults()
	src, err := newSource(cfg)
	if err != nil {
		return nil, err
	}
	return &Producer{
		cfg:   cfg,
		src:   src,
		state: state,
		rp:    &recordPublisher{pub: pub, batchSize: cfg.BatchSize, archive: cfg.Archive, progress: cfg.Progress, log: cfg.Logger},
		log:   cfg.Logger,
	}, nil
}

func newSource(cfg Config) (source, error) {
	base := cfg.BaseURL
	if strings.HasPrefix(base, "file://") {
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("cve feed: bad BaseURL %q: %w", base, err)
		}
		base = u.Path
	}
	if !strings.Contains(base, "://") {
		fi, err := os.Stat(base)
		if err != nil {
			return nil, fmt.Errorf("cve feed: BaseURL %q is neither an http(s) URL nor a readable mirror directory: %w", base, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("cve feed: BaseURL %q is not a directory of feed assets", base)
		}
		return dirSource{dir: filepath.Clean(base)}, nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cve feed: BaseURL %q must be an http(s) URL or a directory", base)
	}
	return newGitHubSource(u, cfg, cfg.Logger), nil
}

// Position returns the saved position, or nil before the first sync.
func (p *Producer) Position(ctx context.Context) (*Position, error) {
	raw, err := p.state.GetState(ctx, PositionKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		errorsTotal.WithLabelValues("state").Inc()
		return nil, fmt.Errorf("cve feed: reading position %q: %w", PositionKey, err)
	}
	var pos Position
	if err := json.Unmarshal(raw, &pos); err != nil || pos.Asset == "" {
		errorsTotal.WithLabelValues("state").Inc()
		return nil, fmt.Errorf("cve feed: stored position %q is not valid (%q); fix or delete it to start again from the newest baseline: %v", PositionKey, raw, err)
	}
	return &pos, nil
}

// Sync applies whatever the feed has past the saved position and returns
// what it did. On error the position stays at the last complete asset.
func (p *Producer) Sync(ctx context.Context) (Summary, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	sum, err := p.sync(ctx)
	syncDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		lastSuccess.SetToCurrentTime()
	}
	return sum, err
}

func (p *Producer) sync(ctx context.Context) (Summary, error) {
	var sum Summary
	pos, err := p.Position(ctx)
	if err != nil {
		return sum, err
	}
	assets, err := p.src.list(ctx, pos)
	if err != nil {
		errorsTotal.WithLabelValues("list").Inc()
		return sum, err
	}
	todo, gap, err := plan(assets, pos, p.cfg.ApplyEveryDelta)
	if err != nil {
		errorsTotal.WithLabelValues("list").Inc()
		return sum, err
	}
	sum.Gap = gap
	if gap {
		p.log.Warn("cve feed: the deltas past the position may miss changes and no newer baseline is listed; applying them anyway",
			"position", pos.Asset)
	}
	if pos != nil {
		sum.Position = *pos
	}
	for i, a := range todo {
		st, err := p.apply(ctx, a, i+1, len(todo))
		sum.Records += st.records
		sum.Rejected += st.rejected
		sum.Skipped += st.skipped
		if err != nil {
			return sum, err
		}
		next := sum.Position
		if a.Kind == Baseline {
			next.Baseline, next.BaselineTime = a.Name, a.Time
		}
		next.Asset, next.AssetTime, next.AppliedAt = a.Name, a.Time, time.Now().UTC()
		raw, err := json.Marshal(next)
		if err != nil {
			return sum, fmt.Errorf("cve feed: encoding position: %w", err)
		}
		if err := p.state.PutState(ctx, PositionKey, raw); err != nil {
			errorsTotal.WithLabelValues("state").Inc()
			return sum, fmt.Errorf("cve feed: saving position after %s (its records are published and will be published again next time): %w", a.Name, err)
		}
		sum.Position = next
		sum.Assets = append(sum.Assets, a.Name)
		assetsApplied.WithLabelValues(a.Kind.String()).Inc()
		p.log.Info("cve feed: asset applied", "asset", a.Name, "kind", a.Kind, "records", st.records, "rejected", st.rejected)
	}
	return sum, nil
}

func (p *Producer) apply(ctx context.Context, a Asset, index, count int) (assetStats, error) {
	path, cleanup, err := p.src.fetch(ctx, a)
	if err != nil {
		errorsTotal.WithLabelValues("download").Inc()
		return assetStats{}, err
	}
	defer cleanup()
	return p.rp.publishFile(ctx, path, a.Name, a.Time, index, count)
}

// Run syncs now and then every interval until ctx is cancelled; it returns
// nil on cancellation. Failed syncs are logged and counted, and retried at
// the next tick.
func (p *Producer) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("cve feed: poll interval must be positive, got %v", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sum, err := p.Sync(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			p.log.Error("cve feed: sync failed; retrying at the next interval", "err", err, "interval", interval)
		case len(sum.Assets) > 0:
			p.log.Info("cve feed: sync done", "assets", len(sum.Assets), "records", sum.Records, "rejected", sum.Rejected, "position", sum.Position.Asset)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// IngestOptions configure Ingest.
type IngestOptions struct {
	// BatchSize is the number of messages per Publish call (default 500).
	BatchSize int
	// Archive bounds what is read from each input.
	Archive archive.Options
	// Progress, when set, is called as records are published.
	Progress func(Progress)
	// Logger receives logs (default slog.Default()).
	Logger *slog.Logger
}

// Ingest publishes the CVE records found under paths (directories, zip,
// tar, tar.gz or JSON files, as `kubeward cve ingest` gets them) the same
// way a sync does, without a feed position. Refused entries go to the
// dead-letter topic; an unreadable input stops the ingest.
func Ingest(ctx context.Context, pub bus.Publisher, paths []string, opts IngestOptions) (Summary, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rp := &recordPublisher{pub: pub, batchSize: opts.BatchSize, archive: opts.Archive, progress: opts.Progress, log: opts.Logger}
	var sum Summary
	for i, p := range paths {
		// A release asset keeps its publication time even when imported
		// by hand, so replays of old assets stay no-ops.
		var published time.Time
		if a, ok := ParseAssetName(filepath.Base(p)); ok {
			published = a.Time
		}
		st, err := rp.publishFile(ctx, p, filepath.Base(p), published, i+1, len(paths))
		sum.Records += st.records
		sum.Rejected += st.rejected
		sum.Skipped += st.skipped
		if err != nil {
			return sum, err
		}
		sum.Assets = append(sum.Assets, p)
	}
	return sum, nil
}
