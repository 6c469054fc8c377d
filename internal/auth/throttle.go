package auth

import (
	"context"
	"sync"
	"time"
)

// Throttle counts failed logins per key (a user name or a source address)
// and refuses further attempts once a key has too many recent failures.
// Implementations must be safe for concurrent use. The context and error
// returns are for shared implementations (Redis); a failing Check refuses
// the login.
type Throttle interface {
	// Check returns how long key must wait before its next attempt, or 0.
	Check(ctx context.Context, key string, now time.Time) (time.Duration, error)
	// Fail records a failed attempt by key.
	Fail(ctx context.Context, key string, now time.Time) error
	// Reset forgets key's failures (after a successful login).
	Reset(ctx context.Context, key string) error
}

// The default login limits: 5 failed logins per user name and 20 per
// source address within 15 minutes.
var (
	DefaultUserThrottle = ThrottleConfig{MaxFailures: 5, Window: 15 * time.Minute}
	DefaultAddrThrottle = ThrottleConfig{MaxFailures: 20, Window: 15 * time.Minute}
)

// ThrottleConfig sets a throttle's limits.
type ThrottleConfig struct {
	// MaxFailures is how many failures within Window lock the key.
	MaxFailures int
	// Window is how far back failures count; a locked key is free again
	// once its oldest counted failure is older than Window.
	Window time.Duration
	// MaxKeys bounds the memory used; when full, expired keys are swept
	// and, failing that, an arbitrary key (Go's map order is randomized) is
	// evicted, so a flood of keys cannot lock everyone out nor reliably
	// evict one chosen key.
	MaxKeys int
}

// MemoryThrottle is an in-process Throttle. Each replica counts on its
// own; a fleet of N replicas allows up to N times the limit.
type MemoryThrottle struct {
	cfg  ThrottleConfig
	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	times []time.Time // oldest first, at most MaxFailures
}

// NewMemoryThrottle returns an empty in-memory throttle.
func NewMemoryThrottle(cfg ThrottleConfig) *MemoryThrottle {
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	return &MemoryThrottle{cfg: cfg, keys: make(map[string]*failures)}
}

// Check implements Throttle.
func (m *MemoryThrottle) Check(_ context.Context, key string, now time.Time) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.keys[key]
	if !ok {
		return 0, nil
	}
	f.expire(now, m.cfg.Window)
	if len(f.times) < m.cfg.MaxFailures {
		return 0, nil
	}
	return f.times[0].Add(m.cfg.Window).Sub(now), nil
}

// Fail implements Throttle.
func (m *MemoryThrottle) Fail(_ context.Context, key string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.keys[key]
	if !ok {
		if len(m.keys) >= m.cfg.MaxKeys {
			m.sweep(now)
		}
		for k := range m.keys {
			if len(m.keys) < m.cfg.MaxKeys {
				break
			}
			delete(m.keys, k)
		}
		f = &failures{}
		m.keys[key] = f
	}
	f.expire(now, m.cfg.Window)
	if len(f.times) == m.cfg.MaxFailures {
		f.times = f.times[1:]
	}
	f.times = append(f.times, now)
	return nil
}

// Reset implements Throttle.
func (m *MemoryThrottle) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
	return nil
}

func (m *MemoryThrottle) sweep(now time.Time) {
	for k, f := range m.keys {
		if f.expire(now, m.cfg.Window); len(f.times) == 0 {
			delete(m.keys, k)
		}
	}
}

// expire drops failures older than window.
func (f *failures) expire(now time.Time, window time.Duration) {
	i := 0
	for i < len(f.times) && now.Sub(f.times[i]) >= window {
		i++
	}
	f.times = f.times[i:]
}
