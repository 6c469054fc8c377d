package job

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kubeward/kubeward/internal/scan"
)

// Memory is a Store kept in memory, for tests and for a server without a
// database. It is safe for concurrent use.
type Memory struct {
	mu    sync.Mutex
	scans map[string]*memScan
}

type memScan struct {
	scan     Scan
	packages []scan.Package
	findings []scan.Finding // most severe first, then report order
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{scans: map[string]*memScan{}} }

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, s Scan) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.scans[s.ID]; ok {
		return fmt.Errorf("memory store: create scan %s: the ID is taken", s.ID)
	}
	s.CreatedAt, s.StartedAt, s.FinishedAt = utc(s.CreatedAt), utc(s.StartedAt), utc(s.FinishedAt)
	m.scans[s.ID] = &memScan{scan: s}
	return nil
}

// transition applies change to scan id when its state is one of from.
func (m *Memory) transition(id string, change func(*memScan), from ...State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.scans[id]
	if !ok {
		return fmt.Errorf("scan %s: %w", id, ErrNotFound)
	}
	if !slices.Contains(from, ms.scan.State) {
		return fmt.Errorf("scan %s is %s: %w", id, ms.scan.State, ErrConflict)
	}
	change(ms)
	return nil
}

// Start implements Store.
func (m *Memory) Start(_ context.Context, id string, at time.Time) error {
	return m.transition(id, func(ms *memScan) {
		ms.scan.State, ms.scan.StartedAt = StateRunning, utc(at)
	}, StateQueued)
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, id string, at time.Time, r Result) error {
	findings := SortFindings(r.Findings)
	return m.transition(id, func(ms *memScan) {
		ms.scan.State, ms.scan.FinishedAt = StateDone, utc(at)
		ms.scan.Summary = Summarize(r.Packages, r.Findings)
		ms.packages = slices.Clone(r.Packages)
		ms.findings = findings
	}, StateRunning)
}

// SortFindings returns a copy of fs ordered as stores list findings: most
// severe first, then in report order.
func SortFindings(fs []scan.Finding) []scan.Finding {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b scan.Finding) int { return cmp.Compare(b.Severity.Level, a.Severity.Level) })
	return out
}

// Fail implements Store.
func (m *Memory) Fail(_ context.Context, id string, at time.Time, reason string) error {
	return m.transition(id, func(ms *memScan) {
		ms.scan.State, ms.scan.FinishedAt, ms.scan.Error = StateFailed, utc(at), reason
	}, StateQueued, StateRunning)
}

// MarkPublished implements Store.
func (m *Memory) MarkPublished(_ context.Context, id string) error {
	return m.transition(id, func(ms *memScan) { ms.scan.Published = true }, StateDone)
}

// FailUnfinished implements Store.
func (m *Memory) FailUnfinished(_ context.Context, at time.Time, reason string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, ms := range m.scans {
		if ms.scan.State == StateQueued || ms.scan.State == StateRunning {
			ms.scan.State, ms.scan.FinishedAt, ms.scan.Error = StateFailed, utc(at), reason
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Unpublished implements Store.
func (m *Memory) Unpublished(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var done []Scan
	for _, ms := range m.scans {
		if ms.scan.State == StateDone && !ms.scan.Published {
			done = append(done, ms.scan)
		}
	}
	slices.SortFunc(done, func(a, b Scan) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	ids := make([]string, len(done))
	for i, s := range done {
		ids[i] = s.ID
	}
	return ids, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Scan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.scans[id]
	if !ok {
		return Scan{}, fmt.Errorf("scan %s: %w", id, ErrNotFound)
	}
	return ms.scan, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, f ScanFilter) (Page[Scan], error) {
	f, err := f.Normalize()
	if err != nil {
		return Page[Scan]{}, err
	}
	m.mu.Lock()
	var all []Scan
	for _, ms := range m.scans {
		if (f.State == "" || ms.scan.State == f.State) && (f.Target == "" || ms.scan.Target == f.Target) {
			all = append(all, ms.scan)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b Scan) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return Page[Scan]{Items: window(all, f.Limit, f.Offset), Total: len(all)}, nil
}

// Findings implements Store.
func (m *Memory) Findings(_ context.Context, id string, f FindingFilter) (Page[scan.Finding], error) {
	f, err := f.Normalize()
	if err != nil {
		return Page[scan.Finding]{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.scans[id]
	if !ok {
		return Page[scan.Finding]{}, fmt.Errorf("scan %s: %w", id, ErrNotFound)
	}
	var sel []scan.Finding
	for _, fd := range ms.findings {
		if fd.Severity.Level >= f.MinSeverity {
			sel = append(sel, fd)
		}
	}
	return Page[scan.Finding]{Items: window(sel, f.Limit, f.Offset), Total: len(sel)}, nil
}

// Packages implements Store.
func (m *Memory) Packages(_ context.Context, id string, limit, offset int) (Page[scan.Package], error) {
	limit, offset, err := normalizePage(limit, offset)
	if err != nil {
		return Page[scan.Package]{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.scans[id]
	if !ok {
		return Page[scan.Package]{}, fmt.Errorf("scan %s: %w", id, ErrNotFound)
	}
	return Page[scan.Package]{Items: window(ms.packages, limit, offset), Total: len(ms.packages)}, nil
}

// LatestDone implements Store.
func (m *Memory) LatestDone(_ context.Context, targets []string) (map[string]Scan, error) {
	want := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	out := map[string]Scan{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ms := range m.scans {
		s := ms.scan
		if s.State != StateDone || !want[s.Target] {
			continue
		}
		if cur, ok := out[s.Target]; !ok || laterScan(s, cur) {
			out[s.Target] = s
		}
	}
	return out, nil
}

// laterScan reports whether a finished after b, as LatestDone orders
// scans: by finish time, then creation time, then ID.
func laterScan(a, b Scan) bool {
	return cmp.Or(a.FinishedAt.Compare(b.FinishedAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) > 0
}

// window returns a copy of the page of items at offset, never nil.
func window[T any](items []T, limit, offset int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return slices.Clone(items[offset:min(len(items), offset+limit)])
}
