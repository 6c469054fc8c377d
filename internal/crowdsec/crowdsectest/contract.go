// Package crowdsectest holds the contract tests every crowdsec.Store and
// crowdsec.BouncerStore implementation must pass (memory, SQLite,
// PostgreSQL), so all backends keep the semantics the Local API relies on.
package crowdsectest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/crowdsec"
)

// T0 is the contract's starting time (microsecond precision, as stores keep).
var T0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// Clock is a settable clock handed to the store under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// NewStoreFunc returns an empty store whose clock is now.
type NewStoreFunc func(t *testing.T, now func() time.Time) crowdsec.Store

// NewBouncersFunc returns an empty bouncer store.
type NewBouncersFunc func(t *testing.T) crowdsec.BouncerStore

// RunStoreContract runs the crowdsec.Store contract against fresh stores
// from newStore.
func RunStoreContract(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, s crowdsec.Store, c *Clock)
	}{
		{"AddAssignsAndNormalises", testAdd},
		{"AddRejectsInvalid", testAddInvalid},
		{"ActiveWindowAndFilter", testActive},
		{"DeleteEndsNow", testDelete},
		{"EndedWindow", testEnded},
		{"PruneKeepsLastID", testPrune},
		{"VisibleByLastID", testConcurrentVisibility},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Clock{t: T0}
			tt.run(t, newStore(t, c.Now), c)
		})
	}
}

func add(t *testing.T, s crowdsec.Store, d crowdsec.Decision) crowdsec.Decision {
	t.Helper()
	got, err := s.Add(context.Background(), d)
	if err != nil {
		t.Fatalf("Add(%s %s): %v", d.Scope, d.Value, err)
	}
	return got
}

func ban(value string, until time.Time) crowdsec.Decision {
	scope := crowdsec.ScopeIP
	if _, err := netip.ParsePrefix(value); err == nil {
		scope = crowdsec.ScopeRange
	}
	return crowdsec.Decision{Type: crowdsec.TypeBan, Scope: scope, Value: value, Scenario: "test/" + value, Until: until}
}

// same reports the first field in which a and b differ, or "".
func same(a, b crowdsec.Decision) string {
	switch {
	case a.ID != b.ID:
		return fmt.Sprintf("ID %d != %d", a.ID, b.ID)
	case a.UUID != b.UUID:
		return fmt.Sprintf("UUID %q != %q", a.UUID, b.UUID)
	case a.Origin != b.Origin, a.Type != b.Type, a.Scope != b.Scope, a.Value != b.Value, a.Scenario != b.Scenario:
		return fmt.Sprintf("%+v != %+v", a, b)
	case a.Simulated != b.Simulated:
		return "Simulated differs"
	case !a.CreatedAt.Equal(b.CreatedAt):
		return fmt.Sprintf("CreatedAt %s != %s", a.CreatedAt, b.CreatedAt)
	case !a.Until.Equal(b.Until):
		return fmt.Sprintf("Until %s != %s", a.Until, b.Until)
	case a.Prefix() != b.Prefix():
		return fmt.Sprintf("Prefix %s != %s", a.Prefix(), b.Prefix())
	}
	return ""
}

func ids(list []crowdsec.Decision) []int64 {
	out := make([]int64, len(list))
	for i := range list {
		out[i] = list[i].ID
	}
	return out
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testAdd(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	if last, err := s.LastID(ctx); err != nil || last != 0 {
		t.Fatalf("LastID of empty store = %d, %v; want 0", last, err)
	}
	inputs := []crowdsec.Decision{
		{Type: crowdsec.TypeBan, Scope: "ip", Value: "::ffff:192.0.2.1", Scenario: "s1", Until: T0.Add(time.Hour)},
		{Type: crowdsec.TypeCaptcha, Scope: "RANGE", Value: "10.1.2.3/8", Scenario: "s2", Origin: "cscli", Simulated: true, Until: T0.Add(2 * time.Hour)},
		{Type: crowdsec.TypeBan, Scope: crowdsec.ScopeIP, Value: "2001:db8::1", Until: T0.Add(3 * time.Hour)},
	}
	wantValues := []string{"192.0.2.1", "10.0.0.0/8", "2001:db8::1"}
	var got []crowdsec.Decision
	for i, in := range inputs {
		c.Advance(time.Second)
		d := add(t, s, in)
		switch {
		case d.Value != wantValues[i]:
			t.Errorf("Add(%s) value = %q, want %q", in.Value, d.Value, wantValues[i])
		case d.UUID == "":
			t.Errorf("Add(%s) assigned no UUID", in.Value)
		case !d.CreatedAt.Equal(c.Now()):
			t.Errorf("Add(%s) CreatedAt = %s, want the store clock %s", in.Value, d.CreatedAt, c.Now())
		case i > 0 && d.ID <= got[i-1].ID:
			t.Errorf("Add(%s) ID = %d, not above previous %d", in.Value, d.ID, got[i-1].ID)
		case in.Origin == "" && d.Origin != crowdsec.Origin:
			t.Errorf("Add(%s) Origin = %q, want %q", in.Value, d.Origin, crowdsec.Origin)
		}
		got = append(got, d)
	}
	if got[0].UUID == got[1].UUID {
		t.Errorf("two decisions share UUID %s", got[0].UUID)
	}
	last, err := s.LastID(ctx)
	if err != nil || last != got[2].ID {
		t.Fatalf("LastID = %d, %v; want %d", last, err, got[2].ID)
	}
	all, err := s.Active(ctx, c.Now(), &crowdsec.Filter{Simulated: true}, 0, last)
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	if len(all) != len(got) {
		t.Fatalf("Active returned %d decisions, want %d", len(all), len(got))
	}
	for i := range got {
		if diff := same(all[i], got[i]); diff != "" {
			t.Errorf("decision %d read back differs: %s", got[i].ID, diff)
		}
	}
}

func testAddInvalid(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	for _, d := range []crowdsec.Decision{
		{Type: "throttle", Scope: crowdsec.ScopeIP, Value: "192.0.2.1", Until: T0.Add(time.Hour)},
		{Type: crowdsec.TypeBan, Scope: "country", Value: "FR", Until: T0.Add(time.Hour)},
		{Type: crowdsec.TypeBan, Scope: crowdsec.ScopeIP, Value: "not-an-ip", Until: T0.Add(time.Hour)},
		{Type: crowdsec.TypeBan, Scope: crowdsec.ScopeIP, Value: "192.0.2.1"},
	} {
		if _, err := s.Add(ctx, d); !errors.Is(err, crowdsec.ErrInvalidDecision) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidDecision", d, err)
		}
	}
	if last, err := s.LastID(ctx); err != nil || last != 0 {
		t.Fatalf("LastID after rejected adds = %d, %v; want 0", last, err)
	}
}

func testActive(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	a := add(t, s, ban("192.0.2.1", T0.Add(time.Hour)))
	b := add(t, s, ban("10.0.0.0/8", T0.Add(2*time.Hour)))
	short := add(t, s, ban("192.0.2.2", T0.Add(time.Minute)))
	sim := ban("192.0.2.3", T0.Add(time.Hour))
	sim.Simulated = true
	simd := add(t, s, sim)
	last, _ := s.LastID(ctx)
	now := T0.Add(30 * time.Minute)
	tests := []struct {
		name        string
		f           crowdsec.Filter
		after, upto int64
		want        []int64
	}{
		{"all live, no simulated", crowdsec.Filter{}, 0, last, []int64{a.ID, b.ID}},
		{"with simulated", crowdsec.Filter{Simulated: true}, 0, last, []int64{a.ID, b.ID, simd.ID}},
		{"after first", crowdsec.Filter{}, a.ID, last, []int64{b.ID}},
		{"upto first", crowdsec.Filter{}, 0, a.ID, []int64{a.ID}},
		{"empty window", crowdsec.Filter{}, last, last, nil},
		{"scope range", crowdsec.Filter{Scopes: []string{crowdsec.ScopeRange}}, 0, last, []int64{b.ID}},
		{"ip inside range", crowdsec.Filter{Target: netip.MustParsePrefix("10.9.9.9/32"), Contains: true}, 0, last, []int64{b.ID}},
		{"value", crowdsec.Filter{Value: "192.0.2.1"}, 0, last, []int64{a.ID}},
	}
	for _, tt := range tests {
		got, err := s.Active(ctx, now, &tt.f, tt.after, tt.upto)
		if err != nil {
			t.Fatalf("%s: Active: %v", tt.name, err)
		}
		if !equalIDs(ids(got), tt.want) {
			t.Errorf("%s: Active = %v, want %v", tt.name, ids(got), tt.want)
		}
	}
	if got, _ := s.Active(ctx, T0, &crowdsec.Filter{}, 0, last); !equalIDs(ids(got), []int64{a.ID, b.ID, short.ID}) {
		t.Errorf("Active at T0 = %v, want %v", ids(got), []int64{a.ID, b.ID, short.ID})
	}
	if got, _ := s.Active(ctx, short.Until, &crowdsec.Filter{}, 0, last); !equalIDs(ids(got), []int64{a.ID, b.ID}) {
		t.Errorf("Active at the Until of %d = %v; a decision does not apply at its Until", short.ID, ids(got))
	}
}

func testDelete(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	d := add(t, s, ban("192.0.2.1", T0.Add(time.Hour)))
	old := add(t, s, ban("192.0.2.2", T0.Add(time.Minute)))
	c.Advance(10 * time.Minute)
	got, err := s.Delete(ctx, d.ID)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !got.Until.Equal(c.Now()) || got.ID != d.ID || got.Value != d.Value {
		t.Errorf("Delete returned %+v, want the decision with Until %s", got, c.Now())
	}
	if list, _ := s.Active(ctx, c.Now(), &crowdsec.Filter{}, 0, old.ID); len(list) != 0 {
		t.Errorf("deleted decisions still active: %v", ids(list))
	}
	got, err = s.Delete(ctx, old.ID)
	if err != nil || !got.Until.Equal(old.Until) {
		t.Errorf("Delete of expired decision = %+v, %v; want a no-op keeping Until %s", got, err, old.Until)
	}
	if _, err := s.Delete(ctx, 9999); !errors.Is(err, crowdsec.ErrNotFound) {
		t.Errorf("Delete(unknown) = %v, want ErrNotFound", err)
	}
	ended, _ := s.Ended(ctx, T0, c.Now(), &crowdsec.Filter{})
	if !equalIDs(ids(ended), []int64{d.ID, old.ID}) {
		t.Errorf("Ended after deletes = %v, want %v", ids(ended), []int64{d.ID, old.ID})
	}
}

func testEnded(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	a := add(t, s, ban("192.0.2.1", T0.Add(time.Minute)))
	b := add(t, s, ban("192.0.2.2", T0.Add(2*time.Minute)))
	r := add(t, s, ban("10.0.0.0/8", T0.Add(3*time.Minute)))
	tests := []struct {
		from, to time.Time
		f        crowdsec.Filter
		want     []int64
	}{
		{T0, T0.Add(time.Hour), crowdsec.Filter{}, []int64{a.ID, b.ID, r.ID}},
		{T0.Add(time.Minute), T0.Add(2 * time.Minute), crowdsec.Filter{}, []int64{b.ID}},
		{T0, T0.Add(time.Minute), crowdsec.Filter{}, []int64{a.ID}},
		{T0, T0.Add(time.Hour), crowdsec.Filter{Scopes: []string{crowdsec.ScopeRange}}, []int64{r.ID}},
		{T0.Add(3 * time.Minute), T0.Add(time.Hour), crowdsec.Filter{}, nil},
	}
	for _, tt := range tests {
		got, err := s.Ended(ctx, tt.from, tt.to, &tt.f)
		if err != nil {
			t.Fatalf("Ended: %v", err)
		}
		if !equalIDs(ids(got), tt.want) {
			t.Errorf("Ended(%s, %s] = %v, want %v", tt.from.Sub(T0), tt.to.Sub(T0), ids(got), tt.want)
		}
	}
}

func testPrune(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	keep := add(t, s, ban("192.0.2.1", T0.Add(time.Hour)))
	gone1 := add(t, s, ban("192.0.2.2", T0.Add(time.Minute)))
	gone2 := add(t, s, ban("192.0.2.3", T0.Add(time.Minute)))
	n, err := s.Prune(ctx, T0.Add(2*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2", n, err)
	}
	if n, err := s.Prune(ctx, T0.Add(2*time.Minute)); err != nil || n != 0 {
		t.Fatalf("second Prune = %d, %v; want 0", n, err)
	}
	if last, _ := s.LastID(ctx); last != gone2.ID {
		t.Fatalf("LastID after pruning the newest decision = %d, want %d (IDs are never reused)", last, gone2.ID)
	}
	if _, err := s.Delete(ctx, gone1.ID); !errors.Is(err, crowdsec.ErrNotFound) {
		t.Errorf("Delete(pruned) = %v, want ErrNotFound", err)
	}
	next := add(t, s, ban("192.0.2.4", T0.Add(time.Hour)))
	if next.ID <= gone2.ID {
		t.Errorf("ID after prune = %d, want above %d", next.ID, gone2.ID)
	}
	got, _ := s.Active(ctx, T0, &crowdsec.Filter{}, 0, next.ID)
	if !equalIDs(ids(got), []int64{keep.ID, next.ID}) {
		t.Errorf("Active after prune = %v, want %v", ids(got), []int64{keep.ID, next.ID})
	}
}

// testConcurrentVisibility polls like a stream bouncer while writers add:
// every ID up to LastID must already be visible, so each poll window
// (previous LastID, LastID] yields every decision exactly once.
func testConcurrentVisibility(t *testing.T, s crowdsec.Store, c *Clock) {
	ctx := context.Background()
	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := s.Add(ctx, ban(fmt.Sprintf("10.%d.%d.1", w, i), T0.Add(time.Hour))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]int{}
	var cursor int64
	poll := func() {
		last, err := s.LastID(ctx)
		if err != nil {
			t.Fatalf("LastID: %v", err)
		}
		got, err := s.Active(ctx, T0, &crowdsec.Filter{}, cursor, last)
		if err != nil {
			t.Fatalf("Active: %v", err)
		}
		for _, d := range got {
			seen[d.ID]++
		}
		cursor = last
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		poll()
	}
	poll()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Add: %v", err)
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("polls saw %d distinct decisions, want %d", len(seen), writers*perWriter)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("decision %d seen %d times", id, n)
		}
	}
}

// RunBouncerContract runs the crowdsec.BouncerStore contract against fresh
// stores from newStore.
func RunBouncerContract(t *testing.T, newStore NewBouncersFunc) {
	ctx := context.Background()
	s := newStore(t)
	key1, key2 := "key-of-bouncer-one-xxxx", "key-of-bouncer-two-xxxx"
	if err := s.Add(ctx, "nginx", key1); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := s.Add(ctx, "traefik", key2); err != nil {
		t.Fatalf("Add: %v", err)
	}
	for _, tt := range []struct{ name, key string }{{"nginx", "another-key-long-enough"}, {"other", key1}} {
		if err := s.Add(ctx, tt.name, tt.key); !errors.Is(err, crowdsec.ErrBouncerExists) {
			t.Errorf("Add(%s) of a taken name or key = %v, want ErrBouncerExists", tt.name, err)
		}
	}
	for _, tt := range []struct{ name, key string }{{"", "a-key-long-enough-yes"}, {"short", "short"}} {
		if err := s.Add(ctx, tt.name, tt.key); err == nil {
			t.Errorf("Add(%q, %q) succeeded, want an error", tt.name, tt.key)
		}
	}
	for _, key := range []string{"", "wrong-key-long-enough", key1 + "x"} {
		if _, err := s.Authenticate(ctx, key); !errors.Is(err, crowdsec.ErrForbidden) {
			t.Errorf("Authenticate(%q) = %v, want ErrForbidden", key, err)
		}
	}
	b, err := s.Authenticate(ctx, key1)
	if err != nil || b.Name != "nginx" || b.KeyHash != crowdsec.HashKey(key1) || !b.Cursor.LastPull.IsZero() || b.Cursor.LastID != 0 {
		t.Fatalf("Authenticate = %+v, %v; want nginx with a zero cursor", b, err)
	}
	cur := crowdsec.Cursor{LastPull: T0.Add(time.Minute), LastID: 42}
	if err := s.SetCursor(ctx, "nginx", cur); err != nil {
		t.Fatalf("SetCursor: %v", err)
	}
	if err := s.SetCursor(ctx, "nobody", cur); err == nil {
		t.Errorf("SetCursor of an unknown bouncer succeeded")
	}
	b, err = s.Authenticate(ctx, key1)
	if err != nil || !b.Cursor.LastPull.Equal(cur.LastPull) || b.Cursor.LastID != cur.LastID {
		t.Errorf("cursor read back = %+v, %v; want %+v", b.Cursor, err, cur)
	}
	if b, _ := s.Authenticate(ctx, key2); b.Name != "traefik" || b.Cursor.LastID != 0 {
		t.Errorf("SetCursor of nginx changed traefik: %+v", b)
	}
}
