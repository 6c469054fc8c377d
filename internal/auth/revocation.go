package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Revocation is one deny-list entry: a JWT ID refused until it expires.
type Revocation struct {
	JTI string
	// ExpiresAt is when the revoked token expires anyway; the entry is
	// useless after it.
	ExpiresAt time.Time
}

// RevocationSource is where revocations are kept: the store (durable,
// shared by the replicas that share a database) or Redis (shared by
// replicas, announced as they happen). Implementations must be safe for
// concurrent use.
type RevocationSource interface {
	// Revoke records that jti is refused until expiresAt.
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	// Revocations returns every entry that has not expired at now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
}

// RevocationWatcher is a RevocationSource that also announces each
// revocation, made by any replica, as it happens.
type RevocationWatcher interface {
	RevocationSource
	// Watch calls onRevoke for every announced revocation and resync each
	// time the subscription is (re)established, since announcements made
	// while it was down are lost. It returns when ctx ends.
	Watch(ctx context.Context, onRevoke func(Revocation), resync func())
}

// StoreRevocations returns st's deny-list as a RevocationSource. Every
// Service reads and writes it; other replicas sharing the database see its
// entries at their next RevocationCache.Sync.
func StoreRevocations(st Store) RevocationSource { return storeRevocations{st} }

// storeRevocations adapts the Store's deny-list to RevocationSource.
type storeRevocations struct{ st Store }

func (s storeRevocations) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	return s.st.RevokeToken(ctx, jti, expiresAt)
}

func (s storeRevocations) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	return s.st.ListRevokedTokens(ctx, now)
}

// RevocationCache answers "is this token revoked?" from memory, so that
// authenticating a request costs no store or Redis round trip. It holds
// the union of its sources' unexpired entries.
//
// How promptly a revocation is in force:
//   - on the replica that made it: at once (Revoke adds it locally before
//     writing it to the sources);
//   - on other replicas, with a RevocationWatcher source (Redis): when the
//     announcement arrives (one pub/sub hop, milliseconds);
//   - on other replicas in any case, even when an announcement was lost or
//     no watcher is configured (replicas sharing only the database): at the
//     next periodic Sync, so within the refresh interval (default 30 s)
//     after it was written to the source. While a source is unreachable the
//     cache keeps what it has and Sync retries at the next tick; the
//     failures are logged and counted in
//     kubeward_auth_revocation_sync_errors_total.
//
// Entries are never removed before they expire, so merging is always
// correct whatever order updates arrive in.
type RevocationCache struct {
	sources  []RevocationSource
	interval time.Duration
	now      func() time.Time
	logger   *slog.Logger

	mu  sync.RWMutex
	ids map[string]time.Time
}

// NewRevocationCache returns an empty cache over sources, re-read every
// interval by Run. Call Sync before serving to load them. A nil now is
// time.Now; a nil logger, slog.Default().
func NewRevocationCache(interval time.Duration, now func() time.Time, logger *slog.Logger, sources ...RevocationSource) *RevocationCache {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &RevocationCache{sources: sources, interval: interval, now: now, logger: logger, ids: make(map[string]time.Time)}
}

// IsRevoked reports whether jti is on the deny-list. It does no I/O.
func (c *RevocationCache) IsRevoked(jti string) bool {
	_, ok := c.expiry(jti)
	return ok
}

// expiry returns the expiry of key's entry, if there is one.
func (c *RevocationCache) expiry(key string) (time.Time, bool) {
	c.mu.RLock()
	exp, ok := c.ids[key]
	c.mu.RUnlock()
	return exp, ok
}

// add merges r, keeping the later expiry.
func (c *RevocationCache) add(r Revocation) {
	c.mu.Lock()
	if cur, ok := c.ids[r.JTI]; !ok || r.ExpiresAt.After(cur) {
		c.ids[r.JTI] = r.ExpiresAt
	}
	c.mu.Unlock()
}

// Len returns how many entries the cache holds.
func (c *RevocationCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ids)
}

// Revoke puts jti on the deny-list until expiresAt: in this cache at once,
// then in every source. An error means a source did not take it (the
// cache still refuses the token on this replica); the caller should report
// it, since other replicas may not learn of it.
func (c *RevocationCache) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	c.add(Revocation{JTI: jti, ExpiresAt: expiresAt})
	var errs []error
	for _, s := range c.sources {
		if err := s.Revoke(ctx, jti, expiresAt); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("auth: record revocation of %s: %w", jti, err)
	}
	return nil
}

// Sync merges every source's unexpired entries into the cache and drops
// expired ones. It tries every source and returns their errors joined.
func (c *RevocationCache) Sync(ctx context.Context) error {
	now := c.now()
	var errs []error
	for _, s := range c.sources {
		rs, err := s.Revocations(ctx, now)
		if err != nil {
			revocationSyncErrors.Inc()
			errs = append(errs, err)
			continue
		}
		for _, r := range rs {
			c.add(r)
		}
	}
	c.mu.Lock()
	for jti, exp := range c.ids {
		if exp.Before(now) {
			delete(c.ids, jti)
		}
	}
	n := len(c.ids)
	c.mu.Unlock()
	revokedCached.Set(float64(n))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("auth: load revoked tokens: %w", err)
	}
	return nil
}

// Run keeps the cache in sync until ctx ends: it follows every
// RevocationWatcher source and calls Sync every interval and whenever a
// watcher (re)subscribes. Run it in its own goroutine.
func (c *RevocationCache) Run(ctx context.Context) {
	resync := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, s := range c.sources {
		if w, ok := s.(RevocationWatcher); ok {
			wg.Go(func() {
				w.Watch(ctx, c.add, func() {
					select {
					case resync <- struct{}{}:
					default: // one is already pending
					}
				})
			})
		}
	}
	defer wg.Wait()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-resync:
		}
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.logger.WarnContext(ctx, "refreshing the revoked-token cache failed; keeping the cached entries", "err", err)
		}
	}
}
