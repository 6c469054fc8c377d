package crowdsec

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound is returned for a decision ID the store does not hold.
var ErrNotFound = errors.New("decision not found")

// Store keeps decisions. Implementations must assign strictly increasing IDs
// and make a decision visible to Active no later than LastID reports its ID:
// the stream endpoint relies on this to send every new decision exactly once.
type Store interface {
	// Add validates d, assigns ID, UUID and CreatedAt, and stores it.
	Add(ctx context.Context, d Decision) (Decision, error)
	// Delete ends a decision now (its Until becomes the deletion time, so
	// stream bouncers receive it as deleted). Deleting an already expired
	// decision is a no-op. It returns ErrNotFound for an unknown ID.
	Delete(ctx context.Context, id int64) (Decision, error)
	// LastID returns the highest ID assigned so far (0 when none).
	LastID(ctx context.Context) (int64, error)
	// Active returns, ordered by ID, the decisions matching f that apply at
	// now and whose ID is in (afterID, uptoID].
	Active(ctx context.Context, now time.Time, f *Filter, afterID, uptoID int64) ([]Decision, error)
	// Ended returns, ordered by ID, the decisions matching f whose Until is
	// in (from, to].
	Ended(ctx context.Context, from, to time.Time, f *Filter) ([]Decision, error)
	// Prune removes decisions that ended before before and returns how many.
	Prune(ctx context.Context, before time.Time) (int, error)
}

// MemoryStore is an in-memory Store for tests and single-process use.
type MemoryStore struct {
	now func() time.Time

	mu     sync.RWMutex
	lastID int64
	list   []Decision // ordered by ID
}

// NewMemoryStore returns an empty MemoryStore whose clock is now (time.Now
// when nil).
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{now: now}
}

// Add implements Store.
func (s *MemoryStore) Add(ctx context.Context, d Decision) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	if err := d.Validate(); err != nil {
		return Decision{}, err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Decision{}, fmt.Errorf("crowdsec: generate decision uuid: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID++
	d.ID = s.lastID
	d.UUID = id.String()
	d.CreatedAt = s.now()
	s.list = append(s.list, d)
	return d, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, id int64) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.list), func(i int) bool { return s.list[i].ID >= id })
	if i == len(s.list) || s.list[i].ID != id {
		return Decision{}, fmt.Errorf("crowdsec: delete decision %d: %w", id, ErrNotFound)
	}
	now := s.now()
	if s.list[i].Until.After(now) {
		s.list[i].Until = now
	}
	return s.list[i], nil
}

// LastID implements Store.
func (s *MemoryStore) LastID(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastID, nil
}

// Active implements Store.
func (s *MemoryStore) Active(ctx context.Context, now time.Time, f *Filter, afterID, uptoID int64) ([]Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := sort.Search(len(s.list), func(i int) bool { return s.list[i].ID > afterID })
	var out []Decision
	for i := start; i < len(s.list) && s.list[i].ID <= uptoID; i++ {
		d := &s.list[i]
		if d.Active(now) && f.Match(d) {
			out = append(out, *d)
		}
	}
	return out, nil
}

// Ended implements Store.
func (s *MemoryStore) Ended(ctx context.Context, from, to time.Time, f *Filter) ([]Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Decision
	for i := range s.list {
		d := &s.list[i]
		if d.Until.After(from) && !d.Until.After(to) && f.Match(d) {
			out = append(out, *d)
		}
	}
	return out, nil
}

// Prune implements Store.
func (s *MemoryStore) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.list[:0]
	for _, d := range s.list {
		if !d.Until.Before(before) {
			kept = append(kept, d)
		}
	}
	n := len(s.list) - len(kept)
	clear(s.list[len(kept):])
	s.list = kept
	return n, nil
}
