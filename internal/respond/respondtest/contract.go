package respondtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/respond"
)

// NewStoreFunc returns an empty respond.Store.
type NewStoreFunc func(t *testing.T) respond.Store

// RunStoreContract runs the respond.Store contract (optimistic versions,
// filters, ordering, audit trail, no aliasing) against fresh stores from
// newStore; memory, SQLite and PostgreSQL all run it.
func RunStoreContract(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, s respond.Store)
	}{
		{"CreateGetRoundTrip", testRoundTrip},
		{"OptimisticVersions", testVersions},
		{"OneLiveActionPerKindAndTarget", testBusy},
		{"ListFilterAndOrder", testList},
		{"AuditTrail", testEvents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

var c0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func action(id, kind, name string, created time.Time) respond.Action {
	return respond.Action{
		ID: id,
		Request: respond.Request{
			Kind:   respond.Kind(kind),
			Target: respond.Target{Kind: "Ingress", Namespace: "shop", Name: name},
			Params: map[string]string{"limit-rps": "10"},
			TTL:    time.Hour, Actor: "alice", Reason: "alert 42",
		},
		State:     respond.StatePending,
		CreatedAt: created,
	}
}

// diff returns the first difference between actions a and b, or "".
func diff(a, b respond.Action) string {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Sprintf("\n got %s\nwant %s", ja, jb)
	}
	return ""
}

func testRoundTrip(t *testing.T, s respond.Store) {
	ctx := context.Background()
	a := action("a1", "ingress-ratelimit", "web", c0.Add(123456*time.Microsecond))
	a.DryRun = true
	if err := s.Create(ctx, &a); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if a.Version != 1 {
		t.Fatalf("Version after Create = %d, want 1", a.Version)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d := diff(got, a); d != "" {
		t.Errorf("created action read back differs:%s", d)
	}
	a.State, a.Undo, a.Message = respond.StateApplied, json.RawMessage(`{"previous":{"a":"b"}}`), "done"
	a.AppliedAt, a.ExpiresAt, a.EndedAt = c0.Add(time.Second), c0.Add(time.Hour+time.Second), c0.Add(2*time.Hour)
	if err := s.Update(ctx, &a); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, _ = s.Get(ctx, a.ID)
	if d := diff(got, a); d != "" {
		t.Errorf("updated action read back differs:%s", d)
	}
	got.Params["limit-rps"] = "changed"
	if again, _ := s.Get(ctx, a.ID); again.Params["limit-rps"] != "10" {
		t.Errorf("changing a returned action changed the stored one: %v", again.Params)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, respond.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func testVersions(t *testing.T, s respond.Store) {
	ctx := context.Background()
	a := action("a1", "k", "web", c0)
	if err := s.Create(ctx, &a); err != nil {
		t.Fatalf("Create: %v", err)
	}
	dup := action("a1", "k", "web", c0)
	if err := s.Create(ctx, &dup); !errors.Is(err, respond.ErrStale) {
		t.Errorf("Create of an existing ID = %v, want ErrStale", err)
	}
	withVersion := action("a2", "k", "web", c0)
	withVersion.Version = 3
	if err := s.Create(ctx, &withVersion); !errors.Is(err, respond.ErrStale) {
		t.Errorf("Create with a version = %v, want ErrStale", err)
	}
	stale := a
	a.State = respond.StateApplied
	if err := s.Update(ctx, &a); err != nil || a.Version != 2 {
		t.Fatalf("Update = %v, version %d; want nil, 2", err, a.Version)
	}
	stale.State = respond.StateFailed
	if err := s.Update(ctx, &stale); !errors.Is(err, respond.ErrStale) {
		t.Errorf("Update of a stale copy = %v, want ErrStale", err)
	}
	if got, _ := s.Get(ctx, a.ID); got.State != respond.StateApplied || got.Version != 2 {
		t.Errorf("stale update changed the action: %s version %d", got.State, got.Version)
	}
	ghost := action("ghost", "k", "web", c0)
	ghost.Version = 1
	if err := s.Update(ctx, &ghost); !errors.Is(err, respond.ErrNotFound) {
		t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, s respond.Store) {
	ctx := context.Background()
	// Created out of order; two share a CreatedAt, so ID breaks the tie.
	specs := []struct {
		id, kind, name string
		at             time.Duration
		state          respond.State
	}{
		{"c", "rate", "web", 2 * time.Second, respond.StateApplied},
		{"b", "rate", "api", time.Second, respond.StateFailed},
		{"a", "quarantine", "web", time.Second, respond.StatePending},
		{"d", "rate", "web", 3 * time.Second, respond.StateReverted},
	}
	for _, sp := range specs {
		a := action(sp.id, sp.kind, sp.name, c0.Add(sp.at))
		a.State = sp.state
		if err := s.Create(ctx, &a); err != nil {
			t.Fatalf("Create %s: %v", sp.id, err)
		}
	}
	web := respond.Target{Kind: "Ingress", Namespace: "shop", Name: "web"}
	other := respond.Target{Kind: "Deployment", Namespace: "shop", Name: "web"}
	tests := []struct {
		name string
		f    respond.Filter
		want []string
	}{
		{"all", respond.Filter{}, []string{"a", "b", "c", "d"}},
		{"states", respond.Filter{States: []respond.State{respond.StateApplied, respond.StatePending}}, []string{"a", "c"}},
		{"kind", respond.Filter{Kind: "rate"}, []string{"b", "c", "d"}},
		{"target", respond.Filter{Target: &web}, []string{"a", "c", "d"}},
		{"target kind differs", respond.Filter{Target: &other}, nil},
		{"all three", respond.Filter{Kind: "rate", Target: &web, States: []respond.State{respond.StateApplied}}, []string{"c"}},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: List: %v", tt.name, err)
		}
		var gotIDs []string
		for _, a := range got {
			gotIDs = append(gotIDs, a.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tt.want) {
			t.Errorf("%s: List = %v, want %v", tt.name, gotIDs, tt.want)
		}
	}
	list, _ := s.List(ctx, respond.Filter{Kind: "quarantine"})
	if len(list) != 1 || !maps.Equal(list[0].Params, map[string]string{"limit-rps": "10"}) || list[0].Version != 1 {
		t.Errorf("List did not return full actions: %+v", list)
	}
}

func testEvents(t *testing.T, s respond.Store) {
	ctx := context.Background()
	a := action("a1", "k", "web", c0)
	if err := s.Create(ctx, &a); err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := []respond.Event{
		{ActionID: "a1", At: c0, Actor: "alice", To: respond.StatePending, Message: "alert 42"},
		{ActionID: "a1", At: c0.Add(time.Second), Actor: "alice", From: respond.StatePending, To: respond.StateApplied},
		// Same instant as the previous one: insertion order must hold.
		{ActionID: "a1", At: c0.Add(time.Second), Actor: "kubeward/reconciler", From: respond.StateApplied, To: respond.StateReverting, Message: "ttl expired"},
	}
	other := respond.Event{ActionID: "other", At: c0, Actor: "bob", To: respond.StatePending}
	for _, e := range []respond.Event{want[0], other, want[1], want[2]} {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
	}
	got, err := s.Events(ctx, "a1")
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("Events =\n%s\nwant\n%s", gj, wj)
	}
	if got, err := s.Events(ctx, "none"); err != nil || len(got) != 0 {
		t.Errorf("Events(no trail) = %v, %v; want empty", got, err)
	}
}

func testBusy(t *testing.T, s respond.Store) {
	ctx := context.Background()
	live := action("live", "rate", "web", c0)
	if err := s.Create(ctx, &live); err != nil {
		t.Fatalf("Create: %v", err)
	}
	tests := []struct {
		name string
		mod  func(a *respond.Action)
		want error
	}{
		{"same kind and target", func(*respond.Action) {}, respond.ErrBusy},
		{"dry run", func(a *respond.Action) { a.DryRun = true }, nil},
		{"other kind", func(a *respond.Action) { a.Kind = "quarantine" }, nil},
		{"other target", func(a *respond.Action) { a.Target.Name = "api" }, nil},
		{"ended", func(a *respond.Action) { a.State = respond.StateFailed }, nil},
	}
	for i, tt := range tests {
		a := action(fmt.Sprintf("a%d", i), "rate", "web", c0)
		tt.mod(&a)
		if err := s.Create(ctx, &a); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: Create = %v, want %v", tt.name, err, tt.want)
		}
	}
	live.State = respond.StateExpired
	if err := s.Update(ctx, &live); err != nil {
		t.Fatalf("Update: %v", err)
	}
	next := action("next", "rate", "web", c0.Add(time.Hour))
	if err := s.Create(ctx, &next); err != nil {
		t.Errorf("Create after the live action ended = %v, want nil", err)
	}
}
