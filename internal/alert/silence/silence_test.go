package silence_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/silence"
)

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := alerttest.NewClock(alerttest.Base)
	store := memstore.New()
	svc := silence.New(store, clock, silence.Options{RefreshInterval: time.Minute})
	m := []alert.Matcher{{Name: "namespace", Type: alert.MatchRegexp, Value: "qa-.*"}}
	pending, err := svc.Create(ctx, alert.Silence{Matchers: m, StartsAt: alerttest.Base.Add(time.Hour), EndsAt: alerttest.Base.Add(2 * time.Hour), CreatedBy: "a", Comment: "later"})
	if err != nil {
		t.Fatal(err)
	}
	active, err := svc.Create(ctx, alert.Silence{Matchers: m, EndsAt: alerttest.Base.Add(time.Hour), CreatedBy: "a", Comment: "now"})
	if err != nil {
		t.Fatal(err)
	}
	if pending.ID == "" || pending.ID == active.ID {
		t.Fatalf("IDs %q and %q", pending.ID, active.ID)
	}
	if !active.StartsAt.Equal(alerttest.Base) {
		t.Fatalf("StartsAt defaulted to %v, want now", active.StartsAt)
	}
	if got := silence.StateAt(&pending, clock.Now()); got != silence.StatePending {
		t.Fatalf("state %s", got)
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	qa := alert.LabelSet{"namespace": "qa-1"}
	if !svc.Mutes(qa) || svc.Mutes(alert.LabelSet{"namespace": "prod"}) {
		t.Fatal("active silence does not mute exactly its alerts")
	}
	if ids := svc.MutedBy(qa); len(ids) != 1 || ids[0] != active.ID {
		t.Fatalf("MutedBy = %v", ids)
	}
	// A silence written by another replica shows up after the refresh
	// interval.
	other := alert.Silence{ID: "other", Matchers: []alert.Matcher{{Name: "namespace", Type: alert.MatchEqual, Value: "prod"}}, StartsAt: alerttest.Base, EndsAt: alerttest.Base.Add(time.Hour), CreatedBy: "b", Comment: "c"}
	if err := store.PutSilence(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if svc.Mutes(alert.LabelSet{"namespace": "prod"}) {
		t.Fatal("cache refreshed before its interval")
	}
	clock.Advance(time.Minute)
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !svc.Mutes(alert.LabelSet{"namespace": "prod"}) {
		t.Fatal("silence from the store not picked up after the refresh interval")
	}
	// Expire ends it now; expiring twice is a no-op.
	exp, err := svc.Expire(ctx, active.ID)
	if err != nil || !exp.EndsAt.Equal(clock.Now()) {
		t.Fatalf("Expire = %+v, %v", exp, err)
	}
	if _, err := svc.Expire(ctx, active.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if svc.Mutes(qa) {
		t.Fatal("expired silence still mutes")
	}
	// Expiring a pending silence ends it before it started.
	exp, err = svc.Expire(ctx, pending.ID)
	if err != nil || silence.StateAt(&exp, clock.Now()) != silence.StateExpired {
		t.Fatalf("expire pending = %+v, %v", exp, err)
	}
	if _, err := svc.Expire(ctx, "nope"); !errors.Is(err, alert.ErrNotFound) {
		t.Fatalf("expire missing: %v", err)
	}
	// GC drops silences expired longer than the retention.
	clock.Advance(48 * time.Hour)
	n, err := svc.GC(ctx, 24*time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("GC = %d, %v; want 3", n, err)
	}
}

func TestListFilter(t *testing.T) {
	ctx := context.Background()
	clock := alerttest.NewClock(alerttest.Base)
	svc := silence.New(memstore.New(), clock, silence.Options{})
	for _, ns := range []string{"a", "b"} {
		if _, err := svc.Create(ctx, alert.Silence{Matchers: []alert.Matcher{{Name: "namespace", Type: alert.MatchEqual, Value: ns}}, EndsAt: clock.Now().Add(time.Hour), CreatedBy: "x", Comment: "y"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.List(ctx, silence.Filter{Labels: alert.LabelSet{"namespace": "b"}})
	if err != nil || len(got) != 1 || got[0].Matchers[0].Value != "b" {
		t.Fatalf("List by labels = %+v, %v", got, err)
	}
	got, err = svc.List(ctx, silence.Filter{States: []silence.State{silence.StateExpired}})
	if err != nil || len(got) != 0 {
		t.Fatalf("List expired = %+v, %v", got, err)
	}
}
