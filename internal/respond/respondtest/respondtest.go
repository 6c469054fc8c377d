// Package respondtest provides test helpers for response executors: a
// settable clock and a comparison of Kubernetes objects that ignores the
// fields the apiserver rewrites on every write.
package respondtest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Clock is a settable clock for respond.Options.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Canonical returns the JSON of obj without resourceVersion, managedFields
// and generation, the fields every write changes.
func Canonical(tb testing.TB, obj metav1.Object) []byte {
	tb.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		tb.Fatalf("encode object: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("decode object: %v", err)
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "resourceVersion")
		delete(meta, "managedFields")
		delete(meta, "generation")
	}
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatalf("encode object: %v", err)
	}
	return out
}
