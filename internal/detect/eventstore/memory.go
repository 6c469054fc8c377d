package eventstore

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is an in-memory Store, for tests and single-process setups that
// need no persistence.
type Memory struct {
	mu     sync.RWMutex
	events map[string]Event
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{events: map[string]Event{}} }

// Add implements Store.
func (m *Memory) Add(ctx context.Context, events []Event) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	added := 0
	for _, e := range events {
		if _, ok := m.events[e.ID]; ok {
			continue
		}
		m.events[e.ID] = e
		added++
	}
	return added, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, f Filter) (Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	m.mu.RLock()
	var matched []Event
	for _, e := range m.events {
		if f.Match(e) {
			matched = append(matched, e)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(matched, Newest)
	page := Page{Total: len(matched), Items: []Event{}}
	if f.Offset < len(matched) {
		page.Items = matched[f.Offset:min(len(matched), f.Offset+f.Limit)]
	}
	return page, nil
}

// Prune implements Store.
func (m *Memory) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, e := range m.events {
		if e.Time.Before(before) {
			delete(m.events, id)
			n++
		}
	}
	return n, nil
}

// Newest orders events as List returns them: newest first, then by ID.
func Newest(a, b Event) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}
