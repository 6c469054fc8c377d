package postgres_test

import (
	"context"
	"testing"

	"github.com/kubeward/kubeward/internal/pgtest"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/postgres"
	"github.com/kubeward/kubeward/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	srv := pgtest.Shared(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, srv.NewDatabase(t))
	})
}

func TestReopen(t *testing.T) {
	srv := pgtest.Shared(t)
	storetest.RunReopen(t, func(t *testing.T) storetest.Location {
		dsn := srv.NewDatabase(t)
		return func(t *testing.T) store.Store { return open(t, dsn) }
	})
}

func TestOpenReportsUnreachableServer(t *testing.T) {
	srv := pgtest.Shared(t)
	for _, dsn := range []string{"postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "::not a dsn::", srv.DSN("no_such_database")} {
		if s, err := postgres.Open(context.Background(), dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
}

func BenchmarkUpsertCVEs(b *testing.B) {
	srv := pgtest.Shared(b)
	storetest.BenchmarkUpsert(b, func(tb testing.TB) store.Store { return open(tb, srv.NewDatabase(tb)) })
}
