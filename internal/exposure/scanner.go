package exposure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// Defaults of ScannerConfig.
const (
	// DefaultInterval is how often the cluster's images are rescanned.
	DefaultInterval = 6 * time.Hour
	// DefaultMaxPerRound bounds the scans one round submits.
	DefaultMaxPerRound = 20
	// RequestedBy is the actor recorded on the scans the Scanner submits.
	RequestedBy = "kubeward:cluster-scanner"
)

// ScannerConfig configures a Scanner.
type ScannerConfig struct {
	// Inventory lists the running images. Required.
	Inventory Inventory
	// Scans submits scans and reads the latest ones. Required.
	Scans ScanService
	// Interval is the time between rounds, and the age under which a done
	// scan of an image counts as fresh. It must be positive (a server
	// with the periodic scan off builds no Scanner); zero means
	// DefaultInterval.
	Interval time.Duration
	// MaxPerRound bounds the scans one round submits; zero means
	// DefaultMaxPerRound.
	MaxPerRound int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the round summaries; nil means slog.Default().
	Logger *slog.Logger
}

// Scanner periodically submits an image scan for every distinct image the
// cluster runs that has no done scan younger than the interval. Rounds are
// bounded: images over MaxPerRound, or met while the scan queue is full,
// are deferred to the next round.
type Scanner struct {
	cfg ScannerConfig
	log *slog.Logger
	// pending maps a target to the ID of the scan this Scanner last
	// submitted for it; only Round touches it.
	pending map[string]string
}

// RoundStats counts what one round did with the distinct images it saw.
type RoundStats struct {
	// Images counts the distinct scan targets the cluster runs.
	Images int
	// Submitted, Fresh, Pending, Deferred and Failed count the targets by
	// outcome (see the outcome label of kubeward_exposure_image_scans_total).
	Submitted, Fresh, Pending, Deferred, Failed int
	// Unresolvable counts running images that name no scannable
	// reference (e.g. a bare config digest as the image).
	Unresolvable int
}

// NewScanner checks cfg and returns a Scanner.
func NewScanner(cfg ScannerConfig) (*Scanner, error) {
	switch {
	case cfg.Inventory == nil:
		return nil, errors.New("cluster image scanner: an Inventory (the cluster view) is required")
	case cfg.Scans == nil:
		return nil, errors.New("cluster image scanner: a ScanService is required")
	case cfg.Interval < 0:
		return nil, fmt.Errorf("cluster image scanner: interval %s: want a positive duration (leave the scanner out to turn it off)", cfg.Interval)
	case cfg.MaxPerRound < 0:
		return nil, fmt.Errorf("cluster image scanner: at most %d scans per round: want a positive number", cfg.MaxPerRound)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxPerRound == 0 {
		cfg.MaxPerRound = DefaultMaxPerRound
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scanner{cfg: cfg, log: cfg.Logger, pending: map[string]string{}}, nil
}

// Run runs a round at once and then every Interval until ctx ends; it
// then returns nil. A failed round is logged and counted, and the next
// one runs on schedule.
func (s *Scanner) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Round(ctx); err != nil && ctx.Err() == nil {
			roundErrors.Inc()
			s.log.Warn("cluster image scan round failed; retrying at the next interval", "err", err, "interval", s.cfg.Interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round submits the scans one round calls for and says what it did with
// each image. Round must not be called concurrently. It fails only when
// the inventory or the latest scans cannot be read; a full queue defers
// the remaining images to the next round.
func (s *Scanner) Round(ctx context.Context) (RoundStats, error) {
	var st RoundStats
	ws, err := s.cfg.Inventory.Images(cluster.ImageFilter{})
	if err != nil {
		return st, fmt.Errorf("cluster image scan: read the image inventory: %w", err)
	}
	seen := map[string]bool{}
	var targets []string
	for _, w := range ws {
		for _, r := range w.Running {
			target := TargetsOf(r).Preferred()
			if target == "" {
				st.Unresolvable++
				s.log.Debug("running image names no scannable reference", "namespace", w.Namespace, "workload", w.Name, "image", r.Image, "imageID", r.ImageID)
				continue
			}
			if !seen[target] {
				seen[target] = true
				targets = append(targets, target)
			}
		}
	}
	slices.Sort(targets)
	st.Images = len(targets)
	imageScans.WithLabelValues(outcomeUnresolvable).Add(float64(st.Unresolvable))
	latest, err := s.cfg.Scans.LatestDone(ctx, targets)
	if err != nil {
		return st, fmt.Errorf("cluster image scan: read the latest scans: %w", err)
	}
	now := s.cfg.Now()
	queueFull := false
	for _, target := range targets {
		outcome := s.decide(ctx, target, latest, now, &st, &queueFull)
		imageScans.WithLabelValues(outcome).Inc()
		switch outcome {
		case outcomeSubmitted:
			st.Submitted++
		case outcomeFresh:
			st.Fresh++
		case outcomePending:
			st.Pending++
		case outcomeDeferred:
			st.Deferred++
		case outcomeFailed:
			st.Failed++
		}
	}
	for target := range s.pending { // forget images the cluster stopped running
		if !seen[target] {
			delete(s.pending, target)
		}
	}
	s.log.Info("cluster image scan round", "images", st.Images, "submitted", st.Submitted, "fresh", st.Fresh,
		"pending", st.Pending, "deferred", st.Deferred, "failed", st.Failed, "unresolvable", st.Unresolvable)
	return st, ctx.Err()
}

// decide handles one target and returns its outcome.
func (s *Scanner) decide(ctx context.Context, target string, latest map[string]job.Scan, now time.Time, st *RoundStats, queueFull *bool) string {
	if done, ok := latest[target]; ok && now.Sub(done.FinishedAt) < s.cfg.Interval {
		return outcomeFresh
	}
	if id, ok := s.pending[target]; ok {
		sc, err := s.cfg.Scans.Get(ctx, id)
		if err == nil && (sc.State == job.StateQueued || sc.State == job.StateRunning) {
			return outcomePending
		}
		delete(s.pending, target)
	}
	if *queueFull || st.Submitted >= s.cfg.MaxPerRound || ctx.Err() != nil {
		return outcomeDeferred
	}
	sc, err := s.cfg.Scans.Submit(ctx, job.Request{Kind: job.KindImage, Image: target, RequestedBy: RequestedBy})
	switch {
	case errors.Is(err, job.ErrQueueFull):
		*queueFull = true
		return outcomeDeferred
	case err != nil:
		s.log.Warn("could not submit a scan of a cluster image", "image", target, "err", err)
		return outcomeFailed
	}
	s.pending[target] = sc.ID
	return outcomeSubmitted
}
