// Package dispatch is the alert pipeline: it receives alerts, stores them,
// routes them through the routing tree into aggregation groups, and on
// each group's timers runs every integration of the group's receiver
// through the notify stages (inhibit, silence, dedup, retry, record).
//
// Timers follow Alertmanager: a new group waits group_wait before its
// first notification, then is evaluated every group_interval; an unchanged
// group is repeated every repeat_interval. Time comes from an alert.Clock,
// and Flush evaluates the groups that are due, so tests drive the pipeline
// deterministically; Run does the same on the clock in production.
//
// Durability: Ingest returns only once the alerts are stored, and a
// notification is recorded in the notification log once delivered. After
// a restart, Recover rebuilds the groups from the stored alerts and the
// log decides what still has to be sent, so nothing is lost and nothing
// already delivered is repeated (a crash between delivery and recording
// can repeat that one notification: delivery is at least once).
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/inhibit"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/silence"
)

var (
	receivedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_alert_received_total",
		Help: "Alerts received by the pipeline, by result (accepted, invalid, rejected when the active-alert limit is reached, store_failed).",
	}, []string{"result"})
	groupsGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "kubeward_alert_aggregation_groups",
		Help: "Aggregation groups currently held.",
	})
	alertsGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "kubeward_alert_active_alerts",
		Help: "Alerts currently held in aggregation groups.",
	})
	flushFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_alert_flush_failures_total",
		Help: "Group flushes in which at least one integration failed; the group is retried on its next tick.",
	})
)

// ErrTooManyAlerts rejects a new alert when MaxAlerts are already held.
var ErrTooManyAlerts = errors.New("too many active alerts")

// Options configure a Dispatcher.
type Options struct {
	// Config is the routing tree, inhibition rules and receivers.
	Config *config.Config
	// Storage persists alerts, silences and the notification log.
	Storage alert.Storage
	// Integrations are the receivers' notifiers by receiver name (see
	// config.Config.Integrations). Every receiver of the routing tree must
	// be present.
	Integrations map[string][]notify.Integration
	// Clock defaults to the wall clock.
	Clock alert.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Silences mutes silenced alerts; default: a silence.Service on Storage.
	Silences *silence.Service
	// Retention is how long notification log entries and resolved alerts
	// are kept (default 120 h); it must exceed the longest repeat_interval.
	Retention time.Duration
	// MaxAlerts bounds the alerts held in memory (default 200,000); new
	// alerts beyond it are rejected and counted.
	MaxAlerts int
	// Concurrency bounds the groups flushed at once (default 16).
	Concurrency int
	// InitialBackoff and MaxBackoff tune the retry stage (defaults 500 ms
	// and 1 min).
	InitialBackoff, MaxBackoff time.Duration
}

// Dispatcher runs the pipeline. It is safe for concurrent use.
type Dispatcher struct {
	opts      Options
	inhibitor *inhibit.Inhibitor
	silences  *silence.Service
	sem       chan struct{}
	wake      chan struct{}

	ingestMu sync.Mutex // serializes Ingest/Acknowledge: merge, store, apply

	mu     sync.Mutex
	alerts map[alert.Fingerprint]*held
	groups map[string]*group
	wg     sync.WaitGroup
}

// held is an alert held in memory and the number of groups holding it.
type held struct {
	a    *alert.Alert
	refs int
}

type group struct {
	key      string
	route    *config.Route
	labels   alert.LabelSet
	alerts   map[alert.Fingerprint]*alert.Alert
	next     time.Time
	flushing bool
}

// New validates opts and returns a Dispatcher. Call Recover before
// ingesting when the storage may hold alerts from a previous run.
func New(opts Options) (*Dispatcher, error) {
	if opts.Config == nil || opts.Config.Route == nil {
		return nil, errors.New("dispatch: a loaded configuration is required")
	}
	if opts.Storage == nil {
		return nil, errors.New("dispatch: storage is required")
	}
	var missing []string
	opts.Config.Route.Walk(func(r *config.Route) {
		if _, ok := opts.Integrations[r.Receiver]; !ok && !slices.Contains(missing, r.Receiver) {
			missing = append(missing, r.Receiver)
		}
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("dispatch: no integrations built for receivers %v: build them with config.Config.Integrations", missing)
	}
	if opts.Clock == nil {
		opts.Clock = alert.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Retention <= 0 {
		opts.Retention = 120 * time.Hour
	}
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = 200_000
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Silences == nil {
		opts.Silences = silence.New(opts.Storage, opts.Clock, silence.Options{Logger: opts.Logger})
	}
	return &Dispatcher{
		opts:      opts,
		inhibitor: inhibit.New(opts.Config.InhibitRules, opts.Clock),
		silences:  opts.Silences,
		sem:       make(chan struct{}, opts.Concurrency),
		wake:      make(chan struct{}, 1),
		alerts:    map[alert.Fingerprint]*held{},
		groups:    map[string]*group{},
	}, nil
}

// Inhibited reports whether an alert with labels ls is inhibited now.
func (d *Dispatcher) Inhibited(ls alert.LabelSet) bool { return d.inhibitor.Mutes(ls) }

// Silences returns the silence service the dispatcher mutes with.
func (d *Dispatcher) Silences() *silence.Service { return d.silences }

// Rejected names an alert of an Ingest call that was not accepted.
type Rejected struct {
	// Index is the alert's position in the Ingest call.
	Index int
	// Err says why.
	Err error
}

// IngestResult says what Ingest did with each alert.
type IngestResult struct {
	Accepted int
	Rejected []Rejected
}

// Ingest validates alerts, merges each with its stored version, stores
// them and adds them to their aggregation groups. Invalid alerts (and new
// alerts beyond MaxAlerts) are listed in the result and counted, the
// others are accepted. The error is non-nil only when reading or storing
// failed; then nothing of this call was accepted and the caller should
// retry.
//
// The stored version, not the copy held in memory, is what a received
// alert is merged with: in split roles an API-only process acknowledges
// alerts in the shared storage, and merging with the in-memory copy would
// write the alert back without that acknowledgement. An acknowledgement
// therefore survives every later update of the same firing episode, and
// is dropped only when the alert resolved and fires again (a new episode,
// see alert.Merge). The read (one GetAlert per distinct fingerprint) and
// the write are not one transaction: an acknowledgement stored by another
// process between them is still overwritten.
func (d *Dispatcher) Ingest(ctx context.Context, alerts ...alert.Alert) (IngestResult, error) {
	var res IngestResult
	now := d.opts.Clock.Now()
	type indexed struct {
		index int
		a     alert.Alert
	}
	valid := make([]indexed, 0, len(alerts))
	for i, a := range alerts {
		a = a.Clone()
		if err := a.Normalize(); err != nil {
			receivedTotal.WithLabelValues("invalid").Inc()
			res.Rejected = append(res.Rejected, Rejected{Index: i, Err: err})
			continue
		}
		a.UpdatedAt = now
		valid = append(valid, indexed{i, a})
	}
	d.ingestMu.Lock()
	defer d.ingestMu.Unlock()
	fps := make([]alert.Fingerprint, len(valid))
	for i, v := range valid {
		fps[i] = v.a.Fingerprint()
	}
	stored, err := d.storedVersions(ctx, fps)
	if err != nil {
		receivedTotal.WithLabelValues("store_failed").Add(float64(len(valid)))
		return IngestResult{}, err
	}
	d.mu.Lock()
	merged := make([]alert.Alert, 0, len(valid))
	inBatch := make(map[alert.Fingerprint]int, len(valid)) // index in merged
	newCount, limited := 0, 0
	for i, v := range valid {
		a, fp := v.a, fps[i]
		if j, ok := inBatch[fp]; ok {
			merged[j] = alert.Merge(merged[j], a)
			continue
		}
		h, isHeld := d.alerts[fp]
		switch old, isStored := stored[fp]; {
		case !isHeld && len(d.alerts)+newCount >= d.opts.MaxAlerts:
			receivedTotal.WithLabelValues("rejected").Inc()
			limited++
			res.Rejected = append(res.Rejected, Rejected{Index: v.index, Err: fmt.Errorf("alert %s: %w (limit %d): resolve or silence alerts, or raise the limit", fp, ErrTooManyAlerts, d.opts.MaxAlerts)})
			continue
		case isStored:
			// The stored version is authoritative: another process (an
			// API-only replica acknowledging) may have written it since
			// this dispatcher last did.
			a = alert.Merge(old, a)
		case isHeld:
			a = alert.Merge(*h.a, a)
		}
		if !isHeld {
			newCount++
		}
		inBatch[fp] = len(merged)
		merged = append(merged, a)
	}
	d.mu.Unlock()
	if len(merged) == 0 {
		return res, nil
	}
	// Accepted is set only once stored: on a storage error nothing is.
	if err := d.opts.Storage.PutAlerts(ctx, merged); err != nil {
		receivedTotal.WithLabelValues("store_failed").Add(float64(len(merged)))
		return IngestResult{}, fmt.Errorf("dispatch: store %d alerts: %w", len(merged), err)
	}
	d.mu.Lock()
	for i := range merged {
		d.apply(&merged[i], now)
	}
	d.updateGauges()
	d.mu.Unlock()
	slices.SortFunc(res.Rejected, func(a, b Rejected) int { return a.Index - b.Index })
	res.Accepted = len(valid) - limited
	receivedTotal.WithLabelValues("accepted").Add(float64(res.Accepted))
	d.signal()
	return res, nil
}

// storedVersions reads the stored version of each distinct fingerprint
// of fps; fingerprints not stored are absent from the map.
func (d *Dispatcher) storedVersions(ctx context.Context, fps []alert.Fingerprint) (map[alert.Fingerprint]alert.Alert, error) {
	out := make(map[alert.Fingerprint]alert.Alert, len(fps))
	for _, fp := range fps {
		if _, ok := out[fp]; ok {
			continue
		}
		a, err := d.opts.Storage.GetAlert(ctx, fp)
		switch {
		case errors.Is(err, alert.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("dispatch: read stored alert %s to merge with: %w", fp, err)
		default:
			out[fp] = a
		}
	}
	return out, nil
}

// apply puts a into memory and its groups; a new group first flushes at
// start + group_wait. d.mu must be held.
func (d *Dispatcher) apply(a *alert.Alert, start time.Time) {
	fp := a.Fingerprint()
	h, ok := d.alerts[fp]
	if !ok {
		h = &held{}
		d.alerts[fp] = h
	}
	h.a = a
	d.inhibitor.Observe(a)
	for _, r := range match(d.opts.Config.Route, a.Labels) {
		labels := groupLabels(r, a.Labels)
		key := groupKey(r, labels)
		g, ok := d.groups[key]
		if !ok {
			g = &group{key: key, route: r, labels: labels, alerts: map[alert.Fingerprint]*alert.Alert{}, next: start.Add(r.GroupWait)}
			d.groups[key] = g
		}
		if _, ok := g.alerts[fp]; !ok {
			h.refs++
		}
		g.alerts[fp] = a
	}
	if h.refs == 0 { // unreachable: the root route matches every alert
		delete(d.alerts, fp)
	}
}

func (d *Dispatcher) updateGauges() {
	groupsGauge.Set(float64(len(d.groups)))
	alertsGauge.Set(float64(len(d.alerts)))
}

func (d *Dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Recover rebuilds the aggregation groups from the stored alerts (those
// firing, and those resolved within the retention), so that a restarted
// pipeline picks up where it stopped. Each group waits its group_wait
// again, then the notification log decides what still has to be sent.
func (d *Dispatcher) Recover(ctx context.Context) error {
	stored, err := d.opts.Storage.ListAlerts(ctx)
	if err != nil {
		return fmt.Errorf("dispatch: recover alerts: %w", err)
	}
	now := d.opts.Clock.Now()
	horizon := now.Add(-d.opts.Retention)
	d.ingestMu.Lock()
	defer d.ingestMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i := range stored {
		a := &stored[i]
		if !a.EndsAt.IsZero() && a.EndsAt.Before(horizon) {
			continue
		}
		d.apply(a, now)
		n++
	}
	d.updateGauges()
	d.opts.Logger.Info("alert pipeline recovered", "alerts", n, "groups", len(d.groups))
	return nil
}

// Acknowledge records that by acknowledged the alert with fingerprint fp.
// It reads and writes the stored alert, so an API-only process may call it
// while another process ingests: that process merges its next update with
// the stored alert and keeps the acknowledgement (see Ingest). The read and
// the write are two storage calls, not one transaction: an update stored
// by another process between them is overwritten by this one.
func (d *Dispatcher) Acknowledge(ctx context.Context, fp alert.Fingerprint, by, comment string) (alert.Alert, error) {
	if by == "" {
		return alert.Alert{}, errors.New("dispatch: acknowledge: who acknowledges (by) is required")
	}
	d.ingestMu.Lock()
	defer d.ingestMu.Unlock()
	a, err := d.opts.Storage.GetAlert(ctx, fp)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("dispatch: acknowledge %s: %w", fp, err)
	}
	a.Ack = &alert.Ack{By: by, Comment: comment, At: d.opts.Clock.Now()}
	if err := d.opts.Storage.PutAlerts(ctx, []alert.Alert{a}); err != nil {
		return alert.Alert{}, fmt.Errorf("dispatch: acknowledge %s: %w", fp, err)
	}
	d.mu.Lock()
	if h, ok := d.alerts[fp]; ok {
		c := h.a.Clone()
		c.Ack = a.Ack
		h.a = &c
	}
	d.mu.Unlock()
	return a, nil
}

type flushJob struct {
	g        *group
	snapshot []*alert.Alert
	now      time.Time
}

// Flush evaluates every group that is due at the clock's time and waits
// for their notifications (including retries) to finish. Tests advance a
// fake clock and call Flush; Run calls it on the real clock.
func (d *Dispatcher) Flush(ctx context.Context) {
	var wg sync.WaitGroup
	d.startDue(ctx, &wg)
	wg.Wait()
}

func (d *Dispatcher) startDue(ctx context.Context, wg *sync.WaitGroup) {
	now := d.opts.Clock.Now()
	d.mu.Lock()
	var jobs []flushJob
	for _, g := range d.groups {
		if g.flushing || g.next.After(now) {
			continue
		}
		g.flushing = true
		snap := slices.Collect(maps.Values(g.alerts))
		slices.SortFunc(snap, func(a, b *alert.Alert) int { return cmp.Compare(a.Fingerprint(), b.Fingerprint()) })
		jobs = append(jobs, flushJob{g: g, snapshot: snap, now: now})
	}
	d.mu.Unlock()
	if len(jobs) == 0 {
		return
	}
	if err := d.silences.Refresh(ctx); err != nil {
		// Without silences every alert would be sent: hold the flushes
		// and try again on the next evaluation.
		d.opts.Logger.Error("cannot load silences, postponing notifications", "err", err)
		d.mu.Lock()
		for _, j := range jobs {
			j.g.flushing = false
		}
		d.mu.Unlock()
		return
	}
	slices.SortFunc(jobs, func(a, b flushJob) int { return cmp.Compare(a.g.key, b.g.key) })
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				d.finish(j, false)
				return
			}
			defer func() { <-d.sem }()
			d.finish(j, d.flushGroup(ctx, j))
		}()
	}
}

// flushGroup runs every integration of the group's receiver and reports
// whether all of them succeeded.
func (d *Dispatcher) flushGroup(ctx context.Context, j flushJob) bool {
	r := j.g.route
	ctx = notify.WithGroup(ctx, notify.Group{
		Key:      j.g.key,
		Receiver: r.Receiver,
		Labels:   j.g.labels,
		Channel:  r.Channel,
		Interval: r.GroupInterval,
	})
	deadline := j.now.Add(r.GroupInterval)
	log := d.opts.Logger.With("group", j.g.key, "receiver", r.Receiver)
	ints := d.opts.Integrations[r.Receiver]
	errs := make([]error, len(ints))
	var wg sync.WaitGroup
	for i, in := range ints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stages := notify.MultiStage{
				notify.MuteStage{Muter: d.inhibitor, Reason: "inhibited", Clock: d.opts.Clock},
				notify.MuteStage{Muter: d.silences, Reason: "silenced", Clock: d.opts.Clock},
				notify.DedupStage{Log: d.opts.Storage, Integration: in, RepeatInterval: r.RepeatInterval},
				notify.RetryStage{Integration: in, Clock: d.opts.Clock, InitialBackoff: d.opts.InitialBackoff, MaxBackoff: d.opts.MaxBackoff},
				notify.SetNotifiesStage{Log: d.opts.Storage, Integration: in, Clock: d.opts.Clock, Retention: d.opts.Retention},
			}
			_, _, errs[i] = stages.Exec(notify.WithFlush(ctx, j.now, deadline), log, j.snapshot...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		flushFailures.Inc()
		log.Error("notification failed; the group is retried on its next tick", "err", err)
		return false
	}
	return true
}

// finish schedules the group's next tick and, when the flush succeeded,
// drops the resolved alerts it notified that did not change meanwhile.
func (d *Dispatcher) finish(j flushJob, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := j.g
	g.flushing = false
	g.next = j.now.Add(g.route.GroupInterval)
	if ok {
		for _, a := range j.snapshot {
			fp := a.Fingerprint()
			if cur := g.alerts[fp]; cur == a && a.Resolved(j.now) {
				delete(g.alerts, fp)
				if h := d.alerts[fp]; h != nil {
					if h.refs--; h.refs <= 0 {
						delete(d.alerts, fp)
					}
				}
			}
		}
	}
	if len(g.alerts) == 0 {
		delete(d.groups, g.key)
	}
	d.updateGauges()
}

// Stats counts what the dispatcher holds in memory.
type Stats struct {
	// Alerts held in aggregation groups and groups held.
	Alerts, Groups int
}

// Stats returns the current counts.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Alerts: len(d.alerts), Groups: len(d.groups)}
}

// NextDue returns when the next group is due, and false when there is no
// group.
func (d *Dispatcher) NextDue() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var next time.Time
	found := false
	for _, g := range d.groups {
		if g.flushing {
			continue
		}
		if !found || g.next.Before(next) {
			next, found = g.next, true
		}
	}
	return next, found
}

// GC prunes the notification log, deletes alerts resolved before the
// retention and silences expired before it, and forgets inhibition
// sources that expired.
func (d *Dispatcher) GC(ctx context.Context) error {
	now := d.opts.Clock.Now()
	d.inhibitor.Prune()
	var errs []error
	if _, err := d.opts.Storage.PruneNotifications(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("prune notification log: %w", err))
	}
	d.ingestMu.Lock()
	_, err := d.opts.Storage.DeleteAlertsResolvedBefore(ctx, now.Add(-d.opts.Retention))
	d.ingestMu.Unlock()
	if err != nil {
		errs = append(errs, fmt.Errorf("delete resolved alerts: %w", err))
	}
	if _, err := d.silences.GC(ctx, d.opts.Retention); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dispatch: gc: %w", err)
	}
	return nil
}

// Run evaluates groups on the clock until ctx is done, then waits for the
// flushes in progress. It also runs GC every gcInterval (default 15 min
// when zero).
func (d *Dispatcher) Run(ctx context.Context, gcInterval time.Duration) error {
	if gcInterval <= 0 {
		gcInterval = 15 * time.Minute
	}
	clock := d.opts.Clock
	nextGC := clock.Now().Add(gcInterval)
	defer d.wg.Wait()
	for {
		d.startDue(ctx, &d.wg)
		now := clock.Now()
		if !now.Before(nextGC) {
			if err := d.GC(ctx); err != nil {
				d.opts.Logger.Error("alert garbage collection failed", "err", err)
			}
			nextGC = now.Add(gcInterval)
		}
		wait := nextGC.Sub(now)
		if next, ok := d.NextDue(); ok && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
		if err := d.sleep(ctx, wait); err != nil {
			return nil //nolint:nilerr // cancellation is the normal way to stop
		}
	}
}

// sleep waits d on the clock, returning early when an alert arrives.
func (d *Dispatcher) sleep(ctx context.Context, wait time.Duration) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.wake:
			cancel()
		case <-sctx.Done():
		}
	}()
	// An error here means a new alert woke us early, unless ctx ended.
	_ = d.opts.Clock.Sleep(sctx, wait)
	return ctx.Err()
}
