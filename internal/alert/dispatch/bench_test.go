package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// countingNotifier accepts every notification and counts them.
type countingNotifier struct{ n atomic.Int64 }

func (c *countingNotifier) Notify(context.Context, string, string, []*alert.Alert) (bool, error) {
	c.n.Add(1)
	return false, nil
}

// hundredRoutes is a tree of 100 team routes under the root, each with its
// own matchers and grouping, plus a catch-all.
func hundredRoutes(tb testing.TB, groupWait, groupInterval string) *config.Config {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "route:\n  receiver: default\n  group_by: [alertname, namespace]\n  group_wait: %s\n  group_interval: %s\n  repeat_interval: 1h\n  routes:\n", groupWait, groupInterval)
	for i := range 100 {
		fmt.Fprintf(&b, "    - matchers: ['team=\"team-%02d\"', 'severity=~\"critical|high|medium\"']\n      receiver: team\n      group_by: [alertname, namespace, team]\n", i)
	}
	b.WriteString("receivers:\n  - name: default\n  - name: team\n")
	cfg, err := config.Load([]byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

type stream struct {
	d     *dispatch.Dispatcher
	clock *alerttest.Clock
	store *memstore.Store
	sent  *countingNotifier
	next  int
	// gcEvery is the number of alerts between GC runs.
	gcEvery int
	// distinct, when positive, bounds the alerts' identities: alert IDs
	// repeat modulo distinct (recurring alerts instead of ever new ones).
	distinct int
}

func newStream(tb testing.TB, groupWait, groupInterval string, retention, gcEvery time.Duration) *stream {
	tb.Helper()
	cfg := hundredRoutes(tb, groupWait, groupInterval)
	n := &countingNotifier{}
	ints := map[string][]notify.Integration{
		"default": {{Receiver: "default", Kind: "webhook", Notifier: n, SendResolved: true}},
		"team":    {{Receiver: "team", Kind: "webhook", Notifier: n, SendResolved: true}},
	}
	clock := alerttest.NewClock(t0)
	store := memstore.New()
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: store, Integrations: ints, Clock: clock,
		Logger: slog.New(slog.DiscardHandler), Retention: retention, MaxAlerts: 2_000_000})
	if err != nil {
		tb.Fatal(err)
	}
	return &stream{d: d, clock: clock, store: store, sent: n, gcEvery: int(gcEvery / (100 * time.Microsecond))}
}

var severities = []alert.Severity{alert.SeverityCritical, alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow}

// batch makes the next n alerts of a sustained stream at 10,000 alerts per
// simulated second: alert k is the (k/2)-th of a series of ever new
// alerts, fired and then resolved 50 ms later, spread over 120 teams
// (100 routed, 20 to the catch-all), 50 alert names and 30 namespaces.
func (s *stream) batch(n int) []alert.Alert {
	out := make([]alert.Alert, n)
	for i := range out {
		k := s.next
		s.next++
		id := k / 2
		if s.distinct > 0 {
			id %= s.distinct
		}
		a := alert.Alert{
			Labels: alert.LabelSet{
				"alertname": fmt.Sprintf("Rule%02d", id%50),
				"namespace": fmt.Sprintf("ns-%02d", id%30),
				"team":      fmt.Sprintf("team-%02d", id%120),
				"object":    fmt.Sprintf("pod-%d", id),
			},
			Severity: severities[id%4],
			Source:   alert.SourceDetection,
			StartsAt: t0.Add(time.Duration(k/2) * 200 * time.Microsecond),
		}
		if k%2 == 1 {
			a.EndsAt = a.StartsAt.Add(50 * time.Millisecond)
		}
		out[i] = a
	}
	return out
}

// run pushes n alerts in batches of 100 (see step).
func (s *stream) run(tb testing.TB, n int) {
	const batch = 100
	for done := 0; done < n; done += batch {
		s.step(tb, s.batch(min(batch, n-done)))
	}
}

// step ingests one batch, advancing the clock 100 µs per alert, flushing
// the due groups every simulated second and collecting garbage as
// configured.
func (s *stream) step(tb testing.TB, alerts []alert.Alert) {
	ctx := context.Background()
	before := s.next - len(alerts)
	s.clock.Advance(time.Duration(len(alerts)) * 100 * time.Microsecond)
	res, err := s.d.Ingest(ctx, alerts...)
	if err != nil || len(res.Rejected) > 0 {
		tb.Fatalf("Ingest: %v %v", err, res.Rejected)
	}
	if s.next/10_000 != before/10_000 {
		s.d.Flush(ctx)
	}
	if s.next/s.gcEvery != before/s.gcEvery {
		if err := s.d.GC(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkIngest measures the pipeline on a sustained stream at 10,000
// alerts per simulated second through 100 routes with grouping (group_wait
// 30s, group_interval 1m); one op is one alert. "churn" streams ever new
// alerts (each fired, then resolved 50 ms later: the worst case for
// memory), "recurring" the same 20,000 alerts firing and resolving over
// and over. alerts/s is the rate one goroutine sustains; heap-MiB is the
// live heap after the run, held-alerts what the groups hold then.
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		name     string
		distinct int
	}{{"churn", 0}, {"recurring", 20_000}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStream(b, "30s", "1m", 10*time.Minute, time.Minute)
			s.distinct = bc.distinct
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += 100 {
				b.StopTimer() // generating the alerts is not the pipeline's work
				batch := s.batch(min(100, b.N-done))
				b.StartTimer()
				s.step(b, batch)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(s.d.Stats().Alerts), "held-alerts")
		})
	}
}

// TestMemoryBounded streams ever new alerts at 10,000 alerts per simulated
// second, each resolved 50 ms after it fired, through groups with a 1 s
// group_wait and 2 s group_interval, GC every second and a 2 s retention.
// After a 5 s warm-up it measures twice, 5 s apart, and checks that what
// the pipeline holds stops growing: alerts leave the groups once their
// resolution is flushed, and GC drops them from the store.
func TestMemoryBounded(t *testing.T) {
	s := newStream(t, "1s", "2s", 2*time.Second, time.Second)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	const second = 10_000 // alerts per simulated second
	// window streams 5 simulated seconds and returns the peak heap and
	// peak held alerts seen at the end of each second.
	window := func() (peakHeap uint64, peakHeld int) {
		for range 5 {
			s.run(t, second)
			peakHeap = max(peakHeap, heap())
			peakHeld = max(peakHeld, s.d.Stats().Alerts)
		}
		return peakHeap, peakHeld
	}
	s.run(t, 5*second) // warm-up
	mid, midHeld := window()
	end, endHeld := window()
	stored, err := s.store.ListAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak heap %.1f MiB and %d held alerts in seconds 5-10, %.1f MiB and %d held in seconds 10-15; %d stored; %d notifications",
		float64(mid)/(1<<20), midHeld, float64(end)/(1<<20), endHeld, len(stored), s.sent.n.Load())
	// 5,000 new alerts a second, each held until the first tick after it
	// resolved: at most group_wait + group_interval + the flush period.
	if limit := 5_000 * 4; endHeld > limit {
		t.Fatalf("%d alerts held, want at most %d: resolved alerts are not released", endHeld, limit)
	}
	// The store keeps resolved alerts for the retention plus the GC period.
	if limit := 5_000 * 5; len(stored) > limit {
		t.Fatalf("%d alerts stored, want at most %d: GC does not drop expired alerts", len(stored), limit)
	}
	if end > mid*3/2 {
		t.Fatalf("peak heap grew from %d to %d bytes between two windows of a steady stream", mid, end)
	}
}
