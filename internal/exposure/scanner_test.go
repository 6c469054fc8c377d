package exposure

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// outcomeCounts reads kubeward_exposure_image_scans_total by outcome.
func outcomeCounts() map[string]float64 {
	out := map[string]float64{}
	for _, o := range []string{outcomeSubmitted, outcomeFresh, outcomePending, outcomeDeferred, outcomeFailed, outcomeUnresolvable} {
		out[o] = testutil.ToFloat64(imageScans.WithLabelValues(o))
	}
	return out
}

// checkRound runs a round and compares its stats and the metric deltas.
func checkRound(t *testing.T, s *Scanner, want RoundStats) {
	t.Helper()
	before := outcomeCounts()
	got, err := s.Round(context.Background())
	if err != nil {
		t.Fatalf("Round: %v", err)
	}
	if got != want {
		t.Errorf("Round = %+v, want %+v", got, want)
	}
	after := outcomeCounts()
	for o, n := range map[string]int{outcomeSubmitted: want.Submitted, outcomeFresh: want.Fresh, outcomePending: want.Pending,
		outcomeDeferred: want.Deferred, outcomeFailed: want.Failed, outcomeUnresolvable: want.Unresolvable} {
		if d := after[o] - before[o]; d != float64(n) {
			t.Errorf("kubeward_exposure_image_scans_total{outcome=%q} rose by %v, want %d", o, d, n)
		}
	}
}

// scannedCluster runs one scanner round over clusterOf against the real
// scan service and waits for its scans. It returns the scanner, its clock
// and the service.
func scannedCluster(t *testing.T) (*Scanner, *time.Time, *job.Service, registryImages, *fakeInventory) {
	t.Helper()
	ri := pushImages(t)
	svc := newService(t, true, 8)
	inv := clusterOf(ri)
	now := time.Now()
	s, err := NewScanner(ScannerConfig{Inventory: inv, Scans: svc, Interval: time.Hour, Now: func() time.Time { return now }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	checkRound(t, s, RoundStats{Images: 3, Submitted: 3, Unresolvable: 1})
	page, err := svc.List(context.Background(), job.ScanFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, sc := range page.Items {
		if sc.RequestedBy != RequestedBy || sc.Kind != job.KindImage {
			t.Errorf("scan %+v: want an image scan requested by %s", sc, RequestedBy)
		}
		targets = append(targets, sc.Target)
		waitDone(t, svc, sc.ID)
	}
	slices.Sort(targets)
	want := []string{pinned(ri.host, "base/clean", ri.cleanDigest), ri.vulnerable, pinned(ri.host, "shop/api", ri.vulnerableDigest)}
	slices.Sort(want)
	if !slices.Equal(targets, want) {
		t.Fatalf("scanned targets %q, want %q (digest-pinned where the image ID has a repository digest)", targets, want)
	}
	return s, &now, svc, ri, inv
}

func TestScannerRounds(t *testing.T) {
	s, now, svc, _, inv := scannedCluster(t)
	// Every image has a done scan younger than the interval.
	checkRound(t, s, RoundStats{Images: 3, Fresh: 3, Unresolvable: 1})
	// Once the scans are older than the interval, each is scanned again.
	*now = now.Add(time.Hour + time.Second)
	checkRound(t, s, RoundStats{Images: 3, Submitted: 3, Unresolvable: 1})
	page, err := svc.List(context.Background(), job.ScanFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 6 {
		t.Errorf("%d scans after the rescan, want 6", page.Total)
	}
	// A broken inventory fails the round without submitting anything.
	inv.err = errInventory
	if _, err := s.Round(context.Background()); !errors.Is(err, errInventory) {
		t.Errorf("Round with a broken inventory: %v, want it wrapped", err)
	}
}

// TestScannerBounded checks the per-round bound and that a full queue
// defers images to the next round instead of failing it; the service's
// workers do not run, so submitted scans stay queued.
func TestScannerBounded(t *testing.T) {
	ri := registryImages{host: "registry.example:5000", vulnerable: "registry.example:5000/shop/api:1.4", vulnerableDigest: "sha256:" + digestHex('1'),
		clean: "registry.example:5000/base/clean:1", cleanDigest: "sha256:" + digestHex('2')}
	svc := newService(t, false, 2)
	s, err := NewScanner(ScannerConfig{Inventory: clusterOf(ri), Scans: svc, MaxPerRound: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Interval != DefaultInterval {
		t.Errorf("default interval %s, want %s", s.cfg.Interval, DefaultInterval)
	}
	checkRound(t, s, RoundStats{Images: 3, Submitted: 1, Deferred: 2, Unresolvable: 1})
	// The first scan is pending; one more fits the queue (size 2).
	checkRound(t, s, RoundStats{Images: 3, Submitted: 1, Pending: 1, Deferred: 1, Unresolvable: 1})
	// The queue is full: the last image waits, the round does not fail.
	checkRound(t, s, RoundStats{Images: 3, Pending: 2, Deferred: 1, Unresolvable: 1})
}

func TestNewScannerRefusesBadConfig(t *testing.T) {
	svc := newService(t, false, 1)
	inv := &fakeInventory{}
	for name, cfg := range map[string]ScannerConfig{
		"no inventory":      {Scans: svc},
		"no scans":          {Inventory: inv},
		"negative interval": {Inventory: inv, Scans: svc, Interval: -time.Second},
		"negative bound":    {Inventory: inv, Scans: svc, MaxPerRound: -1},
	} {
		if _, err := NewScanner(cfg); err == nil {
			t.Errorf("%s: NewScanner accepted it", name)
		}
	}
}

// digestHex is 64 hex digits of c.
func digestHex(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// cancelingInventory ends the scanner's context when it is read.
type cancelingInventory struct {
	fakeInventory
	cancel context.CancelFunc
	reads  int
}

func (c *cancelingInventory) Images(f cluster.ImageFilter) ([]cluster.WorkloadImages, error) {
	c.reads++
	c.cancel()
	return c.fakeInventory.Images(f)
}

// TestScannerRunStopsWithContext runs a round at once and returns nil
// when its context ends, without counting the cut-short round as failed.
func TestScannerRunStopsWithContext(t *testing.T) {
	ri := registryImages{host: "registry.example:5000", vulnerable: "registry.example:5000/shop/api:1.4", vulnerableDigest: "sha256:" + digestHex('1'),
		clean: "registry.example:5000/base/clean:1", cleanDigest: "sha256:" + digestHex('2')}
	ctx, cancel := context.WithCancel(context.Background())
	inv := &cancelingInventory{fakeInventory: *clusterOf(ri), cancel: cancel}
	svc := newService(t, false, 4)
	s, err := NewScanner(ScannerConfig{Inventory: inv, Scans: svc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	failedBefore := testutil.ToFloat64(roundErrors)
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil once its context ended", err)
	}
	if inv.reads != 1 {
		t.Errorf("inventory read %d times, want one round", inv.reads)
	}
	if d := testutil.ToFloat64(roundErrors) - failedBefore; d != 0 {
		t.Errorf("a round cut short by shutdown counted as %v failed rounds", d)
	}
	if page, err := svc.List(context.Background(), job.ScanFilter{}); err != nil || page.Total != 0 {
		t.Errorf("scans submitted after shutdown: %+v, %v", page, err)
	}
}
