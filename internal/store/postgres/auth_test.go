package postgres_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/auth/authtest"
	"github.com/kubeward/kubeward/internal/pgtest"
)

func TestAuthContract(t *testing.T) {
	srv := pgtest.Shared(t)
	authtest.Run(t, func(t *testing.T) auth.Store {
		s := open(t, srv.NewDatabase(t))
		t.Cleanup(func() { s.Close() })
		return s
	})
}
