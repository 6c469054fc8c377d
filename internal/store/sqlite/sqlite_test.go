package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/sqlite"
	"github.com/kubeward/kubeward/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "kubeward.db"))
	})
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) storetest.Location {
		path := filepath.Join(t.TempDir(), "kubeward.db")
		return func(t *testing.T) store.Store { return open(t, path) }
	})
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "a?b.db", filepath.Join(t.TempDir(), "missing-dir", "x.db")} {
		if s, err := sqlite.Open(context.Background(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func BenchmarkUpsertCVEs(b *testing.B) {
	storetest.BenchmarkUpsert(b, func(tb testing.TB) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "kubeward.db"))
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		return s
	})
}

// FuzzSearchCVEs checks that no search text, however hostile to FTS5's
// query syntax, makes a search fail.
func FuzzSearchCVEs(f *testing.F) {
	for _, s := range storetest.HostileText {
		f.Add(s)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "kubeward.db"))
	if err != nil {
		f.Fatalf("Open: %v", err)
	}
	f.Cleanup(func() { s.Close() })
	if _, err := s.UpsertCVEs(context.Background(), storetest.Records(2024, 50, 1)); err != nil {
		f.Fatalf("UpsertCVEs: %v", err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		page, err := s.SearchCVEs(context.Background(), store.CVEQuery{Text: text, Limit: 3})
		if err != nil {
			t.Fatalf("SearchCVEs(%q): %v", text, err)
		}
		if page.Total < len(page.Items) || len(page.Items) > 3 {
			t.Fatalf("SearchCVEs(%q): inconsistent page: total %d, %d items", text, page.Total, len(page.Items))
		}
	})
}
