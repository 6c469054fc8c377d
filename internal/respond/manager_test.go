package respond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

const fakeKind respond.Kind = "fake"

// fakeExecutor records calls and fails on demand.
type fakeExecutor struct {
	applyErr, revertErr error
	applied, reverted   []string
}

func (f *fakeExecutor) Validate(req respond.Request) error {
	if req.Params["bad"] != "" {
		return fmt.Errorf("%w: bad param", respond.ErrInvalid)
	}
	return nil
}

func (f *fakeExecutor) Apply(_ context.Context, a respond.Action) (json.RawMessage, error) {
	if f.applyErr != nil {
		return nil, f.applyErr
	}
	if a.DryRun {
		return nil, nil
	}
	f.applied = append(f.applied, a.ID)
	return json.RawMessage(`{"previous":"x"}`), nil
}

func (f *fakeExecutor) Revert(_ context.Context, a respond.Action) error {
	if string(a.Undo) != `{"previous":"x"}` {
		return fmt.Errorf("undo data lost: %s", a.Undo)
	}
	if f.revertErr != nil {
		return f.revertErr
	}
	f.reverted = append(f.reverted, a.ID)
	return nil
}

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func setup() (*respond.Manager, *respond.MemoryStore, *fakeExecutor, *respondtest.Clock) {
	store, ex, clock := respond.NewMemoryStore(), &fakeExecutor{}, respondtest.NewClock(t0)
	return respond.NewManager(store, map[respond.Kind]respond.Executor{fakeKind: ex}, respond.Options{Now: clock.Now}), store, ex, clock
}

func req(name string) respond.Request {
	return respond.Request{Kind: fakeKind, Target: respond.Target{Kind: "Ingress", Namespace: "ns", Name: name}, TTL: time.Minute, Actor: "alice", Reason: "test"}
}

func TestApplyValidation(t *testing.T) {
	mod := func(f func(*respond.Request)) respond.Request { r := req("a"); f(&r); return r }
	tests := []struct {
		name string
		req  respond.Request
	}{
		{"unknown kind", mod(func(r *respond.Request) { r.Kind = "nope" })},
		{"no ttl", mod(func(r *respond.Request) { r.TTL = 0 })},
		{"ttl too long", mod(func(r *respond.Request) { r.TTL = 48 * time.Hour })},
		{"no actor", mod(func(r *respond.Request) { r.Actor = "" })},
		{"no reason", mod(func(r *respond.Request) { r.Reason = "" })},
		{"no name", mod(func(r *respond.Request) { r.Target.Name = "" })},
		{"no target kind", mod(func(r *respond.Request) { r.Target.Kind = "" })},
		{"executor rejects", mod(func(r *respond.Request) { r.Params = map[string]string{"bad": "1"} })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, store, _, _ := setup()
			if _, err := m.Apply(context.Background(), tt.req); !errors.Is(err, respond.ErrInvalid) {
				t.Fatalf("Apply = %v, want ErrInvalid", err)
			}
			if list, _ := store.List(context.Background(), respond.Filter{}); len(list) != 0 {
				t.Fatalf("invalid request was recorded: %v", list)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		applyErr  error
		revertErr error
		advance   time.Duration
		wantState respond.State
		wantErr   bool
	}{
		{name: "not yet expired", advance: 59 * time.Second, wantState: respond.StateApplied},
		{name: "expired", advance: time.Minute, wantState: respond.StateExpired},
		{name: "apply fails", applyErr: errors.New("boom"), advance: time.Hour, wantState: respond.StateFailed},
		{name: "revert conflict", revertErr: fmt.Errorf("%w: edited", respond.ErrConflict), advance: time.Hour, wantState: respond.StateFailed, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, store, ex, clock := setup()
			ex.applyErr, ex.revertErr = tt.applyErr, tt.revertErr
			a, err := m.Apply(ctx, req("a"))
			if (err != nil) != (tt.applyErr != nil) {
				t.Fatalf("Apply = %v", err)
			}
			clock.Advance(tt.advance)
			_, err = m.ReconcileOnce(ctx)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ReconcileOnce = %v, wantErr %t", err, tt.wantErr)
			}
			got, _ := store.Get(ctx, a.ID)
			if got.State != tt.wantState {
				t.Fatalf("state %s, want %s", got.State, tt.wantState)
			}
			// A second pass never reverts twice.
			m.ReconcileOnce(ctx)
			if len(ex.reverted) > 1 {
				t.Fatalf("reverted %d times", len(ex.reverted))
			}
		})
	}
}

func TestDryRunIsNotReverted(t *testing.T) {
	ctx := context.Background()
	m, _, ex, clock := setup()
	r := req("a")
	r.DryRun = true
	a, err := m.Apply(ctx, r)
	if err != nil || a.State != respond.StateDryRun {
		t.Fatalf("Apply = %v, %v", a.State, err)
	}
	clock.Advance(time.Hour)
	if n, err := m.ReconcileOnce(ctx); n != 0 || err != nil || len(ex.reverted) != 0 {
		t.Fatalf("dry run was reverted: %d, %v", n, err)
	}
	// A dry run does not block a real action on the same target.
	if _, err := m.Apply(ctx, req("a")); err != nil {
		t.Fatal(err)
	}
}

func TestRevertOnlyApplied(t *testing.T) {
	ctx := context.Background()
	m, _, _, _ := setup()
	a, err := m.Apply(ctx, req("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revert(ctx, a.ID, "bob", "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revert(ctx, a.ID, "bob", "again"); !errors.Is(err, respond.ErrInvalid) {
		t.Fatalf("second Revert = %v, want ErrInvalid", err)
	}
	if _, err := m.Revert(ctx, "no-such-id", "bob", "x"); !errors.Is(err, respond.ErrNotFound) {
		t.Fatalf("Revert unknown = %v, want ErrNotFound", err)
	}
}

func TestStoreUpdateIsOptimistic(t *testing.T) {
	ctx := context.Background()
	m, store, _, _ := setup()
	a, err := m.Apply(ctx, req("a"))
	if err != nil {
		t.Fatal(err)
	}
	stale := a
	a.Message = "touched by another replica"
	if err := store.Update(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := store.Update(ctx, &stale); !errors.Is(err, respond.ErrStale) {
		t.Fatalf("stale Update = %v, want ErrStale", err)
	}
}

func TestCrashDuringApplyIsMarkedFailed(t *testing.T) {
	ctx := context.Background()
	m, store, _, clock := setup()
	a := respond.Action{ID: "crashed", Request: req("a"), State: respond.StatePending, CreatedAt: t0}
	if err := store.Create(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get(ctx, a.ID); got.State != respond.StatePending {
		t.Fatalf("a fresh pending action was touched: %s", got.State)
	}
	clock.Advance(2 * time.Minute)
	if _, err := m.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := store.Get(ctx, a.ID)
	if got.State != respond.StateFailed || got.Message == "" {
		t.Fatalf("state %s %q, want failed with a message", got.State, got.Message)
	}
}
