// Package alerttest provides test helpers for the alert pipeline: a fake
// clock and the storage contract that every alert.Storage must pass.
package alerttest

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake alert.Clock. Time only moves when the test calls Set or
// Advance, or when code under test calls Sleep, which advances the fake
// time by the requested duration and returns at once (so retry backoff
// and timers cost no wall-clock time).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements alert.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep implements alert.Clock: it advances the clock by d.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
