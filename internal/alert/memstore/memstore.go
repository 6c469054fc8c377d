// Package memstore is an in-memory alert.Storage for tests and for a
// single process that does not need its alert state to survive a restart.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// Store keeps alerts, silences and the notification log in maps guarded by
// one mutex. The zero value is not usable; call New.
type Store struct {
	mu       sync.RWMutex
	alerts   map[alert.Fingerprint]alert.Alert
	silences map[string]alert.Silence
	nflog    map[nflogKey]alert.NotificationEntry
}

type nflogKey struct{ integration, group string }

var _ alert.Storage = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		alerts:   map[alert.Fingerprint]alert.Alert{},
		silences: map[string]alert.Silence{},
		nflog:    map[nflogKey]alert.NotificationEntry{},
	}
}

// PutAlerts implements alert.AlertStore.
func (s *Store) PutAlerts(ctx context.Context, alerts []alert.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range alerts {
		s.alerts[a.Fingerprint()] = a.Clone()
	}
	return nil
}

// GetAlert implements alert.AlertStore.
func (s *Store) GetAlert(ctx context.Context, fp alert.Fingerprint) (alert.Alert, error) {
	if err := ctx.Err(); err != nil {
		return alert.Alert{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.alerts[fp]
	if !ok {
		return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, alert.ErrNotFound)
	}
	return a.Clone(), nil
}

// ListAlerts implements alert.AlertStore.
func (s *Store) ListAlerts(ctx context.Context) ([]alert.Alert, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	fps := slices.Sorted(maps.Keys(s.alerts))
	out := make([]alert.Alert, len(fps))
	for i, fp := range fps {
		out[i] = s.alerts[fp].Clone()
	}
	return out, nil
}

// QueryAlerts implements alert.AlertStore: it evaluates the whole query in
// Go over the alerts in memory.
func (s *Store) QueryAlerts(ctx context.Context, q alert.AlertQuery) ([]alert.Alert, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	plan, err := q.Plan()
	if err != nil {
		return nil, 0, err
	}
	type entry struct {
		fp alert.Fingerprint
		a  alert.Alert
	}
	// Stored alerts are replaced, never modified in place, so the copies
	// (sharing their maps) are read outside the lock, where Keep may take
	// its time; only the page is cloned.
	s.mu.RLock()
	selected := make([]entry, 0, len(s.alerts))
	for fp, a := range s.alerts {
		selected = append(selected, entry{fp, a})
	}
	s.mu.RUnlock()
	slices.SortFunc(selected, func(x, y entry) int {
		if c := y.a.StartsAt.Compare(x.a.StartsAt); c != 0 {
			return c
		}
		return cmp.Compare(x.fp, y.fp)
	})
	pager := plan.Pager()
	for i := range selected {
		switch a := &selected[i].a; {
		case !plan.Matches(a):
		case pager.InPage():
			pager.Add(a.Clone())
		default:
			pager.Count()
		}
	}
	page, total := pager.Result()
	return page, total, nil
}

// DeleteAlertsResolvedBefore implements alert.AlertStore.
func (s *Store) DeleteAlertsResolvedBefore(ctx context.Context, t time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for fp, a := range s.alerts {
		if !a.EndsAt.IsZero() && a.EndsAt.Before(t) {
			delete(s.alerts, fp)
			n++
		}
	}
	return n, nil
}

// PutSilence implements alert.SilenceStore.
func (s *Store) PutSilence(ctx context.Context, sil alert.Silence) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sil.Matchers = slices.Clone(sil.Matchers)
	s.silences[sil.ID] = sil
	return nil
}

// GetSilence implements alert.SilenceStore.
func (s *Store) GetSilence(ctx context.Context, id string) (alert.Silence, error) {
	if err := ctx.Err(); err != nil {
		return alert.Silence{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sil, ok := s.silences[id]
	if !ok {
		return alert.Silence{}, fmt.Errorf("silence %q: %w", id, alert.ErrNotFound)
	}
	sil.Matchers = slices.Clone(sil.Matchers)
	return sil, nil
}

// ListSilences implements alert.SilenceStore.
func (s *Store) ListSilences(ctx context.Context) ([]alert.Silence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]alert.Silence, 0, len(s.silences))
	for _, sil := range s.silences {
		sil.Matchers = slices.Clone(sil.Matchers)
		out = append(out, sil)
	}
	slices.SortFunc(out, func(a, b alert.Silence) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteSilencesEndedBefore implements alert.SilenceStore.
func (s *Store) DeleteSilencesEndedBefore(ctx context.Context, t time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, sil := range s.silences {
		if sil.EndsAt.Before(t) {
			delete(s.silences, id)
			n++
		}
	}
	return n, nil
}

// LastNotification implements alert.NotificationLog.
func (s *Store) LastNotification(ctx context.Context, integration, groupKey string) (alert.NotificationEntry, error) {
	if err := ctx.Err(); err != nil {
		return alert.NotificationEntry{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.nflog[nflogKey{integration, groupKey}]
	if !ok {
		return alert.NotificationEntry{}, fmt.Errorf("notification log entry %s %s: %w", integration, groupKey, alert.ErrNotFound)
	}
	return cloneEntry(e), nil
}

// RecordNotification implements alert.NotificationLog.
func (s *Store) RecordNotification(ctx context.Context, e alert.NotificationEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nflog[nflogKey{e.Integration, e.GroupKey}] = cloneEntry(e)
	return nil
}

// PruneNotifications implements alert.NotificationLog.
func (s *Store) PruneNotifications(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.nflog {
		if e.ExpiresAt.Before(now) {
			delete(s.nflog, k)
			n++
		}
	}
	return n, nil
}

func cloneEntry(e alert.NotificationEntry) alert.NotificationEntry {
	e.FiringAlerts = slices.Clone(e.FiringAlerts)
	e.ResolvedAlerts = slices.Clone(e.ResolvedAlerts)
	return e
}
