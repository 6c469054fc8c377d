package notify_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

var discard = slog.New(slog.DiscardHandler)

func al(name string, resolvedAt time.Time) *alert.Alert {
	return &alert.Alert{Labels: alert.LabelSet{"alertname": name}, StartsAt: alerttest.Base.Add(-time.Hour), EndsAt: resolvedAt}
}

func fps(as ...*alert.Alert) []alert.Fingerprint {
	var out []alert.Fingerprint
	for _, a := range as {
		out = append(out, a.Fingerprint())
	}
	return out
}

// TestDedupStage checks the decision table of the dedup stage.
func TestDedupStage(t *testing.T) {
	now := alerttest.Base
	a, b := al("A", time.Time{}), al("B", time.Time{})
	aRes := al("A", now.Add(-time.Minute))
	tests := []struct {
		name         string
		prev         *alert.NotificationEntry
		alerts       []*alert.Alert
		sendResolved bool
		eachTick     bool
		want         bool
	}{
		{"first notification", nil, []*alert.Alert{a}, false, false, true},
		{"first, only resolved", nil, []*alert.Alert{aRes}, true, false, false},
		{"unchanged within repeat", &alert.NotificationEntry{FiringAlerts: fps(a), SentAt: now.Add(-time.Minute)}, []*alert.Alert{a}, false, false, false},
		{"unchanged after repeat", &alert.NotificationEntry{FiringAlerts: fps(a), SentAt: now.Add(-time.Hour)}, []*alert.Alert{a}, false, false, true},
		{"new firing alert", &alert.NotificationEntry{FiringAlerts: fps(a), SentAt: now}, []*alert.Alert{a, b}, false, false, true},
		{"fewer firing, no send_resolved", &alert.NotificationEntry{FiringAlerts: fps(a, b), SentAt: now}, []*alert.Alert{aRes, b}, false, false, false},
		{"newly resolved with send_resolved", &alert.NotificationEntry{FiringAlerts: fps(a, b), SentAt: now}, []*alert.Alert{aRes, b}, true, false, true},
		{"resolution already sent", &alert.NotificationEntry{FiringAlerts: fps(b), ResolvedAlerts: fps(aRes), SentAt: now}, []*alert.Alert{aRes, b}, true, false, false},
		{"all resolved", &alert.NotificationEntry{FiringAlerts: fps(a), SentAt: now}, []*alert.Alert{aRes}, false, false, true},
		{"all resolved, already told", &alert.NotificationEntry{ResolvedAlerts: fps(aRes), SentAt: now}, []*alert.Alert{aRes}, true, false, false},
		{"each tick", &alert.NotificationEntry{FiringAlerts: fps(a), SentAt: now}, []*alert.Alert{a}, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			in := notify.Integration{Receiver: "r", Kind: "webhook", SendResolved: tt.sendResolved, RepeatEachTick: tt.eachTick}
			ctx := notify.WithGroup(context.Background(), notify.Group{Key: "g"})
			if tt.prev != nil {
				e := *tt.prev
				e.Integration, e.GroupKey = in.Name(), "g"
				if err := store.RecordNotification(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			stage := notify.DedupStage{Log: store, Integration: in, RepeatInterval: 30 * time.Minute}
			_, out, err := stage.Exec(notify.WithFlush(ctx, now, now.Add(time.Minute)), discard, tt.alerts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(out) > 0; got != tt.want {
				t.Fatalf("needs update = %v, want %v", got, tt.want)
			}
		})
	}
}

type scripted struct {
	results []error
	calls   []time.Time
	clock   *alerttest.Clock
}

func (s *scripted) Notify(context.Context, string, string, []*alert.Alert) (bool, error) {
	s.calls = append(s.calls, s.clock.Now())
	if len(s.results) == 0 {
		return false, nil
	}
	err := s.results[0]
	s.results = s.results[1:]
	var perm interface{ Permanent() bool }
	if errors.As(err, &perm) {
		return false, err
	}
	return true, err
}

type permanent struct{ error }

func (permanent) Permanent() bool { return true }

func TestRetryStage(t *testing.T) {
	now := alerttest.Base
	fail := errors.New("connection refused")
	tests := []struct {
		name      string
		results   []error
		wantCalls int
		wantErr   string
		minGaps   []time.Duration
	}{
		{"success", nil, 1, "", nil},
		{"retries with growing backoff", []error{fail, fail, fail}, 4, "", []time.Duration{400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}},
		{"retry-after wins over backoff", []error{&notify.RetryAfterError{After: 20 * time.Second, Err: fail}}, 2, "", []time.Duration{20 * time.Second}},
		{"permanent error is not retried", []error{permanent{fail}}, 1, "not retryable", nil},
		{"gives up at the deadline", []error{fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail, fail}, 0, "gave up", nil},
		{"retry-after beyond the deadline", []error{&notify.RetryAfterError{After: 2 * time.Minute, Err: fail}}, 1, "gave up after 1 attempts", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := alerttest.NewClock(now)
			n := &scripted{results: tt.results, clock: clock}
			stage := notify.RetryStage{Integration: notify.Integration{Receiver: "r", Kind: "webhook", Notifier: n}, Clock: clock, Jitter: func() float64 { return 0 }}
			ctx := notify.WithFlush(notify.WithGroup(context.Background(), notify.Group{Key: "g"}), now, now.Add(time.Minute))
			_, _, err := stage.Exec(ctx, discard, al("A", time.Time{}))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Exec error = %v, want %q", err, tt.wantErr)
			}
			if tt.wantCalls > 0 && len(n.calls) != tt.wantCalls {
				t.Fatalf("%d calls, want %d", len(n.calls), tt.wantCalls)
			}
			for i, g := range tt.minGaps {
				if gap := n.calls[i+1].Sub(n.calls[i]); gap < g {
					t.Fatalf("gap %d = %v, want at least %v", i, gap, g)
				}
			}
			for _, c := range n.calls {
				if c.After(now.Add(time.Minute)) {
					t.Fatalf("attempt at %v, after the deadline", c)
				}
			}
		})
	}
}

func TestRetryStageSkipsResolvedWithoutSendResolved(t *testing.T) {
	now := alerttest.Base
	clock := alerttest.NewClock(now)
	n := &scripted{clock: clock}
	stage := notify.RetryStage{Integration: notify.Integration{Receiver: "r", Kind: "slack", Notifier: n}, Clock: clock}
	ctx := notify.WithFlush(context.Background(), now, now.Add(time.Minute))
	_, out, err := stage.Exec(ctx, discard, al("A", now.Add(-time.Second)))
	if err != nil || len(n.calls) != 0 || len(out) != 1 {
		t.Fatalf("Exec = %d alerts, %v; %d calls; want no call and the alerts passed on", len(out), err, len(n.calls))
	}
}

func TestStagesNeedFlushContext(t *testing.T) {
	_, _, err := notify.DedupStage{Log: memstore.New()}.Exec(context.Background(), discard, al("A", time.Time{}))
	if err == nil || !strings.Contains(err.Error(), "WithFlush") {
		t.Fatalf("Exec without flush state: %v", err)
	}
}
