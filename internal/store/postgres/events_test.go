package postgres_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/detect/eventstore/eventtest"
)

func TestEventStoreContract(t *testing.T) {
	eventtest.RunStoreContract(t, func(t *testing.T) eventstore.Store { return openFresh(t).Events() })
}
