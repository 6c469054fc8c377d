package respond

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
)

// Filter selects actions in Store.List. Zero fields do not filter.
type Filter struct {
	// States keeps actions in one of these states.
	States []State
	// Kind keeps actions of this kind.
	Kind Kind
	// Target keeps actions on this target.
	Target *Target
}

func (f *Filter) match(a *Action) bool {
	if len(f.States) > 0 && !slices.Contains(f.States, a.State) {
		return false
	}
	if f.Kind != "" && a.Kind != f.Kind {
		return false
	}
	return f.Target == nil || a.Target == *f.Target
}

// Store keeps actions and their audit trail.
type Store interface {
	// Create stores a new action (Version must be 0; it becomes 1). It
	// returns ErrStale for an existing ID, and ErrBusy when a is not a dry
	// run and its target already has a live (pending, applied, reverting)
	// action of the same kind that is not a dry run either: the store
	// enforces one live action per kind and target even across processes.
	Create(ctx context.Context, a *Action) error
	// Update replaces an action if its stored Version equals a.Version,
	// then increments a.Version; otherwise it returns ErrStale.
	Update(ctx context.Context, a *Action) error
	// Get returns the action or ErrNotFound.
	Get(ctx context.Context, id string) (Action, error)
	// List returns matching actions ordered by CreatedAt then ID.
	List(ctx context.Context, f Filter) ([]Action, error)
	// AppendEvent adds an entry to an action's audit trail.
	AppendEvent(ctx context.Context, e Event) error
	// Events returns an action's audit trail, oldest first.
	Events(ctx context.Context, actionID string) ([]Event, error)
}

// MemoryStore is an in-memory Store.
type MemoryStore struct {
	mu      sync.RWMutex
	actions map[string]Action
	events  map[string][]Event
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{actions: map[string]Action{}, events: map[string][]Event{}}
}

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, a *Action) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.actions[a.ID]; ok || a.Version != 0 {
		return fmt.Errorf("respond: create action %s: %w", a.ID, ErrStale)
	}
	if a.Live() {
		for _, o := range s.actions {
			if o.Live() && o.Kind == a.Kind && o.Target == a.Target {
				return fmt.Errorf("respond: create action %s on %s: %w (action %s)", a.ID, a.Target, ErrBusy, o.ID)
			}
		}
	}
	a.Version = 1
	s.actions[a.ID] = clone(*a)
	return nil
}

// Update implements Store.
func (s *MemoryStore) Update(ctx context.Context, a *Action) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.actions[a.ID]
	if !ok {
		return fmt.Errorf("respond: update action %s: %w", a.ID, ErrNotFound)
	}
	if cur.Version != a.Version {
		return fmt.Errorf("respond: update action %s (version %d, stored %d): %w", a.ID, a.Version, cur.Version, ErrStale)
	}
	a.Version++
	s.actions[a.ID] = clone(*a)
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, id string) (Action, error) {
	if err := ctx.Err(); err != nil {
		return Action{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.actions[id]
	if !ok {
		return Action{}, fmt.Errorf("respond: action %s: %w", id, ErrNotFound)
	}
	return clone(a), nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, f Filter) ([]Action, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []Action
	for _, a := range s.actions {
		if f.match(&a) {
			out = append(out, clone(a))
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// AppendEvent implements Store.
func (s *MemoryStore) AppendEvent(ctx context.Context, e Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[e.ActionID] = append(s.events[e.ActionID], e)
	return nil
}

// Events implements Store.
func (s *MemoryStore) Events(ctx context.Context, actionID string) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.events[actionID]), nil
}

// clone copies the maps and slices of a so callers cannot alias stored data.
func clone(a Action) Action {
	a.Params = maps.Clone(a.Params)
	a.Undo = slices.Clone(a.Undo)
	return a
}
