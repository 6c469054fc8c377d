package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// memSource is an in-memory RevocationSource that can be made to fail.
type memSource struct {
	mu   sync.Mutex
	ids  map[string]time.Time
	down bool
}

var errDown = errors.New("source down")

func (m *memSource) Revoke(_ context.Context, jti string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	m.ids[jti] = exp
	return nil
}

func (m *memSource) Revocations(_ context.Context, now time.Time) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	var out []Revocation
	for jti, exp := range m.ids {
		if !exp.Before(now) {
			out = append(out, Revocation{JTI: jti, ExpiresAt: exp})
		}
	}
	return out, nil
}

func TestRevocationCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := &memSource{ids: map[string]time.Time{"from-a": now.Add(time.Hour), "old": now.Add(-time.Second)}}
	b := &memSource{ids: map[string]time.Time{"from-b": now.Add(2 * time.Hour)}}
	c := NewRevocationCache(time.Minute, clock, nil, a, b)
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for jti, want := range map[string]bool{"from-a": true, "from-b": true, "old": false, "other": false} {
		if got := c.IsRevoked(jti); got != want {
			t.Errorf("after Sync, IsRevoked(%s) = %v, want %v", jti, got, want)
		}
	}
	// A source that is down: the revocation holds here, the caller hears.
	b.down = true
	if err := c.Revoke(ctx, "new", now.Add(time.Hour)); !errors.Is(err, errDown) {
		t.Errorf("Revoke with a source down = %v, want its error", err)
	}
	if !c.IsRevoked("new") || a.ids["new"].IsZero() {
		t.Error("the revocation is missing from the cache or from the working source")
	}
	before := testutil.ToFloat64(revocationSyncErrors)
	if err := c.Sync(ctx); !errors.Is(err, errDown) {
		t.Errorf("Sync with a source down = %v, want its error", err)
	}
	if got := testutil.ToFloat64(revocationSyncErrors) - before; got != 1 {
		t.Errorf("kubeward_auth_revocation_sync_errors_total rose by %v, want 1", got)
	}
	if !c.IsRevoked("from-b") {
		t.Error("entries of a source that is down were dropped")
	}
	// Entries leave the cache once expired, not before.
	now = now.Add(90 * time.Minute)
	b.down = false
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for jti, want := range map[string]bool{"from-a": false, "new": false, "from-b": true} {
		if got := c.IsRevoked(jti); got != want {
			t.Errorf("90 minutes later, IsRevoked(%s) = %v, want %v", jti, got, want)
		}
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
	// A later expiry wins over an earlier one, whatever the order.
	c.add(Revocation{JTI: "x", ExpiresAt: now.Add(time.Hour)})
	c.add(Revocation{JTI: "x", ExpiresAt: now.Add(time.Minute)})
	if exp, _ := c.expiry("x"); !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("expiry(x) = %s, want the later one", exp)
	}
}
