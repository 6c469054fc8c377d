package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/auth/authtest"
)

func TestAuthContract(t *testing.T) {
	authtest.Run(t, func(t *testing.T) auth.Store {
		s := open(t, filepath.Join(t.TempDir(), "kubeward.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}
