package respond_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

func TestMemoryStoreContract(t *testing.T) {
	respondtest.RunStoreContract(t, func(*testing.T) respond.Store { return respond.NewMemoryStore() })
}
