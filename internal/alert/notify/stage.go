package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// Stage is one step of the notification pipeline. It receives the alerts
// left by the previous stage and returns those the next stage gets,
// possibly with a context carrying what later stages need.
type Stage interface {
	Exec(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error)
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error)

// Exec calls f.
func (f StageFunc) Exec(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error) {
	return f(ctx, l, alerts...)
}

// MultiStage runs stages in order; it stops early, without error, once a
// stage leaves no alerts.
type MultiStage []Stage

// Exec implements Stage.
func (ms MultiStage) Exec(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error) {
	var err error
	for _, s := range ms {
		if len(alerts) == 0 {
			return ctx, nil, nil
		}
		ctx, alerts, err = s.Exec(ctx, l, alerts...)
		if err != nil {
			return ctx, nil, err
		}
	}
	return ctx, alerts, nil
}

// Muter decides whether an alert is muted (inhibited or silenced) now.
type Muter interface {
	Mutes(lset alert.LabelSet) bool
}

// MuteStage drops the firing alerts that Muter mutes; resolved alerts pass
// so that a receiver told about an alert also hears it resolved. Reason
// labels the kubeward_alert_muted_alerts_total counter.
type MuteStage struct {
	Muter  Muter
	Reason string
	Clock  alert.Clock
}

// Exec implements Stage.
func (s MuteStage) Exec(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error) {
	now := s.Clock.Now()
	kept := alerts[:0:0]
	for _, a := range alerts {
		if !a.Resolved(now) && s.Muter.Mutes(a.Labels) {
			mutedTotal.WithLabelValues(s.Reason).Inc()
			l.Debug("alert muted", "reason", s.Reason, "fingerprint", a.Fingerprint().String())
			continue
		}
		kept = append(kept, a)
	}
	return ctx, kept, nil
}

type flushKey struct{}

type flushState struct {
	now              time.Time
	deadline         time.Time
	firing, resolved []alert.Fingerprint
}

// WithFlush returns ctx for one flush of a group started at now whose
// retries must end by deadline (the group's next tick). The dispatcher
// calls it before running an integration's pipeline.
func WithFlush(ctx context.Context, now, deadline time.Time) context.Context {
	return context.WithValue(ctx, flushKey{}, &flushState{now: now, deadline: deadline})
}

func flushFrom(ctx context.Context) (*flushState, error) {
	fs, ok := ctx.Value(flushKey{}).(*flushState)
	if !ok {
		return nil, errors.New("notify: context carries no flush state: call WithFlush first")
	}
	return fs, nil
}

// DedupStage passes the alerts on only when the integration has to hear
// about them, deciding from the notification log as Alertmanager does: a
// new firing alert, a newly resolved one (with send_resolved), all alerts
// resolved, or the repeat interval elapsed since the last notification.
type DedupStage struct {
	Log            alert.NotificationLog
	Integration    Integration
	RepeatInterval time.Duration
}

// Exec implements Stage.
func (s DedupStage) Exec(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error) {
	fs, err := flushFrom(ctx)
	if err != nil {
		return ctx, nil, err
	}
	g, _ := GroupFrom(ctx)
	fs.firing, fs.resolved = fs.firing[:0], fs.resolved[:0]
	for _, a := range alerts {
		if a.Resolved(fs.now) {
			fs.resolved = append(fs.resolved, a.Fingerprint())
		} else {
			fs.firing = append(fs.firing, a.Fingerprint())
		}
	}
	slices.Sort(fs.firing)
	slices.Sort(fs.resolved)
	entry, err := s.Log.LastNotification(ctx, s.Integration.Name(), g.Key)
	var prev *alert.NotificationEntry
	switch {
	case err == nil:
		prev = &entry
	case errors.Is(err, alert.ErrNotFound):
	default:
		return ctx, nil, fmt.Errorf("read notification log for %s: %w", s.Integration.Name(), err)
	}
	if !s.needsUpdate(prev, fs) {
		l.Debug("notification deduplicated", "integration", s.Integration.Name(), "group", g.Key)
		return ctx, nil, nil
	}
	return ctx, alerts, nil
}

func (s DedupStage) needsUpdate(prev *alert.NotificationEntry, fs *flushState) bool {
	if prev == nil {
		// Never notified: only firing alerts are worth a first message.
		return len(fs.firing) > 0
	}
	if !subset(fs.firing, prev.FiringAlerts) {
		return true
	}
	if len(fs.firing) == 0 {
		// Everything resolved: tell receivers that were told something
		// fired (the log is updated even without send_resolved).
		return len(prev.FiringAlerts) > 0
	}
	if s.Integration.SendResolved && !subset(fs.resolved, prev.ResolvedAlerts) {
		return true
	}
	if s.Integration.RepeatEachTick {
		return true
	}
	return !prev.SentAt.After(fs.now.Add(-s.RepeatInterval))
}

// subset reports whether every element of sub is in set.
func subset(sub, set []alert.Fingerprint) bool {
	if !slices.IsSorted(set) { // the log stores them sorted; be lenient
		set = slices.Sorted(slices.Values(set))
	}
	for _, fp := range sub {
		if _, ok := slices.BinarySearch(set, fp); !ok {
			return false
		}
	}
	return true
}

// RetryStage delivers the alerts to the integration, retrying failures
// worth retrying with exponential backoff and jitter until the flush
// deadline. An endpoint's Retry-After is honoured. Resolved alerts are
// left out unless the integration sends them; when nothing is left to
// send the stage succeeds without calling the notifier.
type RetryStage struct {
	Integration Integration
	Clock       alert.Clock
	// InitialBackoff and MaxBackoff bound the delay between attempts
	// (defaults 500 ms and 1 min); each delay is doubled and jittered by up
	// to ±20 %.
	InitialBackoff, MaxBackoff time.Duration
	// Jitter returns a number in [0,1); default math/rand/v2.Float64.
	Jitter func() float64
}

// Exec implements Stage.
func (s RetryStage) Exec(ctx context.Context, l *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error) {
	fs, err := flushFrom(ctx)
	if err != nil {
		return ctx, nil, err
	}
	g, _ := GroupFrom(ctx)
	send := alerts
	if !s.Integration.SendResolved {
		send = make([]*alert.Alert, 0, len(alerts))
		for _, a := range alerts {
			if !a.Resolved(fs.now) {
				send = append(send, a)
			}
		}
	}
	if len(send) == 0 {
		return ctx, alerts, nil
	}
	name := s.Integration.Name()
	backoff, maxBackoff := s.InitialBackoff, s.MaxBackoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	if maxBackoff <= 0 {
		maxBackoff = time.Minute
	}
	jitter := s.Jitter
	if jitter == nil {
		jitter = rand.Float64
	}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		retry, err := s.Integration.Notifier.Notify(ctx, g.Receiver, g.Key, send)
		notificationDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if err == nil {
			notificationsTotal.WithLabelValues(name, resultSuccess).Inc()
			if attempt > 1 {
				l.Info("notification delivered after retries", "integration", name, "group", g.Key, "attempts", attempt)
			}
			return ctx, alerts, nil
		}
		notificationsFailed.WithLabelValues(name).Inc()
		if !retry {
			notificationsTotal.WithLabelValues(name, resultFailure).Inc()
			return ctx, nil, fmt.Errorf("notify %s (not retryable): %w", name, err)
		}
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*jitter()))
		if ra, ok := retryAfter(err); ok && ra > wait {
			wait = ra
		}
		if backoff *= 2; backoff > maxBackoff {
			backoff = maxBackoff
		}
		if s.Clock.Now().Add(wait).After(fs.deadline) {
			notificationsTotal.WithLabelValues(name, resultFailure).Inc()
			return ctx, nil, fmt.Errorf("notify %s: gave up after %d attempts, will retry at the group's next tick: %w", name, attempt, err)
		}
		l.Warn("notification failed, retrying", "integration", name, "group", g.Key, "attempt", attempt, "wait", wait, "err", err)
		if err := s.Clock.Sleep(ctx, wait); err != nil {
			notificationsTotal.WithLabelValues(name, resultFailure).Inc()
			return ctx, nil, fmt.Errorf("notify %s: %w", name, err)
		}
	}
}

// SetNotifiesStage records the delivered notification in the log, with
// the firing and resolved sets computed by DedupStage.
type SetNotifiesStage struct {
	Log         alert.NotificationLog
	Integration Integration
	Clock       alert.Clock
	// Retention is how long the entry is kept (ExpiresAt = SentAt +
	// Retention).
	Retention time.Duration
}

// Exec implements Stage.
func (s SetNotifiesStage) Exec(ctx context.Context, _ *slog.Logger, alerts ...*alert.Alert) (context.Context, []*alert.Alert, error) {
	fs, err := flushFrom(ctx)
	if err != nil {
		return ctx, nil, err
	}
	g, _ := GroupFrom(ctx)
	now := s.Clock.Now()
	e := alert.NotificationEntry{
		Integration:    s.Integration.Name(),
		GroupKey:       g.Key,
		AlertSetHash:   alert.AlertSetHash(fs.firing, fs.resolved),
		FiringAlerts:   slices.Clone(fs.firing),
		ResolvedAlerts: slices.Clone(fs.resolved),
		SentAt:         now,
		ExpiresAt:      now.Add(s.Retention),
	}
	if err := s.Log.RecordNotification(ctx, e); err != nil {
		return ctx, nil, fmt.Errorf("record notification of %s: %w", e.Integration, err)
	}
	return ctx, alerts, nil
}
