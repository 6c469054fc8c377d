// Package silence manages silences: time-bounded mutes of the alerts that
// a set of matchers selects, created by a person with a comment, expiring
// on their own at EndsAt or earlier when expired by hand.
package silence

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// ErrInvalid marks a silence refused by Create; the message says why.
var ErrInvalid = errors.New("invalid silence")

// State is the lifecycle state of a silence at a point in time.
type State string

// Silence states.
const (
	StatePending State = "pending" // StartsAt is in the future
	StateActive  State = "active"
	StateExpired State = "expired"
)

// StateAt returns the state of s at now.
func StateAt(s *alert.Silence, now time.Time) State {
	switch {
	case now.Before(s.StartsAt):
		return StatePending
	case now.Before(s.EndsAt):
		return StateActive
	default:
		return StateExpired
	}
}

// Service creates, lists and expires silences, and mutes the alerts the
// active ones select. Silences are stored in an alert.SilenceStore; the
// service caches the active and pending ones and reloads them from the
// store at most every RefreshInterval, so that silences created by another
// replica take effect. It is safe for concurrent use.
type Service struct {
	store   alert.SilenceStore
	clock   alert.Clock
	logger  *slog.Logger
	refresh time.Duration

	mu       sync.RWMutex
	cache    []cached
	loadedAt time.Time
	loaded   bool
}

type cached struct {
	s        alert.Silence
	matchers alert.Matchers
}

// Options configure a Service.
type Options struct {
	// RefreshInterval bounds how stale the cache of silences may be
	// (default 15 s; negative reloads on every Mutes call).
	RefreshInterval time.Duration
	Logger          *slog.Logger
}

// New returns a Service on store.
func New(store alert.SilenceStore, clock alert.Clock, opts Options) *Service {
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{store: store, clock: clock, logger: opts.Logger, refresh: opts.RefreshInterval}
}

// Create validates s, assigns it an ID and stores it. StartsAt defaults
// to now; EndsAt is required and must be after StartsAt and in the future;
// CreatedBy and Comment are required.
func (s *Service) Create(ctx context.Context, sil alert.Silence) (alert.Silence, error) {
	now := s.clock.Now()
	if sil.StartsAt.IsZero() || sil.StartsAt.Before(now) {
		sil.StartsAt = now
	}
	if err := validate(&sil, now); err != nil {
		return alert.Silence{}, err
	}
	sil.ID = newID()
	sil.UpdatedAt = now
	if err := s.store.PutSilence(ctx, sil); err != nil {
		return alert.Silence{}, fmt.Errorf("store silence: %w", err)
	}
	s.invalidate()
	s.logger.Info("silence created", "id", sil.ID, "createdBy", sil.CreatedBy, "endsAt", sil.EndsAt)
	return sil, nil
}

func validate(sil *alert.Silence, now time.Time) error {
	var problems []string
	if len(sil.Matchers) == 0 {
		problems = append(problems, "at least one matcher is required")
	}
	if _, err := alert.CompileMatchers(sil.Matchers); err != nil {
		problems = append(problems, err.Error())
	}
	if strings.TrimSpace(sil.CreatedBy) == "" {
		problems = append(problems, "createdBy is required")
	}
	if strings.TrimSpace(sil.Comment) == "" {
		problems = append(problems, "comment is required: say why the alerts are silenced")
	}
	if !sil.EndsAt.After(sil.StartsAt) {
		problems = append(problems, "endsAt must be after startsAt")
	} else if !sil.EndsAt.After(now) {
		problems = append(problems, "endsAt must be in the future")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

func newID() string {
	return rand.Text()
}

// Expire ends the silence with the ID now. Expiring a silence that has
// already expired is a no-op; a pending one ends before it started.
func (s *Service) Expire(ctx context.Context, id string) (alert.Silence, error) {
	sil, err := s.store.GetSilence(ctx, id)
	if err != nil {
		return alert.Silence{}, fmt.Errorf("expire silence %q: %w", id, err)
	}
	now := s.clock.Now()
	if StateAt(&sil, now) == StateExpired {
		return sil, nil
	}
	if now.Before(sil.StartsAt) {
		sil.StartsAt = now
	}
	sil.EndsAt = now
	sil.UpdatedAt = now
	if err := s.store.PutSilence(ctx, sil); err != nil {
		return alert.Silence{}, fmt.Errorf("expire silence %q: %w", id, err)
	}
	s.invalidate()
	s.logger.Info("silence expired", "id", id)
	return sil, nil
}

// Filter selects silences in List. Zero fields do not filter.
type Filter struct {
	// States keeps silences in these states at now.
	States []State
	// Labels keeps silences that would mute an alert with these labels.
	Labels alert.LabelSet
}

// List returns the stored silences the filter selects.
func (s *Service) List(ctx context.Context, f Filter) ([]alert.Silence, error) {
	all, err := s.store.ListSilences(ctx)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	now := s.clock.Now()
	out := all[:0]
	for _, sil := range all {
		if len(f.States) > 0 && !slices.Contains(f.States, StateAt(&sil, now)) {
			continue
		}
		if f.Labels != nil {
			ms, err := alert.CompileMatchers(sil.Matchers)
			if err != nil || !ms.Matches(f.Labels) {
				continue
			}
		}
		out = append(out, sil)
	}
	return out, nil
}

func (s *Service) invalidate() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}

// Refresh reloads the cache of silences from the store if it is older
// than the refresh interval.
func (s *Service) Refresh(ctx context.Context) error {
	now := s.clock.Now()
	s.mu.RLock()
	fresh := s.loaded && s.refresh > 0 && now.Sub(s.loadedAt) < s.refresh
	s.mu.RUnlock()
	if fresh {
		return nil
	}
	all, err := s.store.ListSilences(ctx)
	if err != nil {
		return fmt.Errorf("load silences: %w", err)
	}
	cache := make([]cached, 0, len(all))
	for _, sil := range all {
		if StateAt(&sil, now) == StateExpired {
			continue
		}
		ms, err := alert.CompileMatchers(sil.Matchers)
		if err != nil {
			s.logger.Warn("stored silence has invalid matchers, ignored", "id", sil.ID, "err", err)
			continue
		}
		cache = append(cache, cached{s: sil, matchers: ms})
	}
	s.mu.Lock()
	s.cache, s.loadedAt, s.loaded = cache, now, true
	s.mu.Unlock()
	return nil
}

// Mutes reports whether an active silence selects ls now. It reads the
// cache; call Refresh before a batch of Mutes calls.
func (s *Service) Mutes(ls alert.LabelSet) bool {
	now := s.clock.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range s.cache {
		c := &s.cache[i]
		if c.s.Active(now) && c.matchers.Matches(ls) {
			return true
		}
	}
	return false
}

// MutedBy returns the IDs of the active silences that select ls now,
// from the cache (see Refresh).
func (s *Service) MutedBy(ls alert.LabelSet) []string {
	now := s.clock.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for i := range s.cache {
		c := &s.cache[i]
		if c.s.Active(now) && c.matchers.Matches(ls) {
			ids = append(ids, c.s.ID)
		}
	}
	return ids
}

// GC deletes silences that expired before now minus retention.
func (s *Service) GC(ctx context.Context, retention time.Duration) (int, error) {
	n, err := s.store.DeleteSilencesEndedBefore(ctx, s.clock.Now().Add(-retention))
	if err != nil {
		return 0, fmt.Errorf("delete expired silences: %w", err)
	}
	return n, nil
}
