package memstore_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/memstore"
)

func TestStorageContract(t *testing.T) {
	alerttest.RunStorageContract(t, func(*testing.T) alert.Storage { return memstore.New() })
}
