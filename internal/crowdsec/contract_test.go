package crowdsec_test

import (
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/crowdsec/crowdsectest"
)

func TestMemoryStoreContract(t *testing.T) {
	crowdsectest.RunStoreContract(t, func(_ *testing.T, now func() time.Time) crowdsec.Store {
		return crowdsec.NewMemoryStore(now)
	})
}

func TestMemoryBouncersContract(t *testing.T) {
	crowdsectest.RunBouncerContract(t, func(*testing.T) crowdsec.BouncerStore { return crowdsec.NewMemoryBouncers() })
}

func BenchmarkMemoryStartupQuery30k(b *testing.B) {
	crowdsectest.BenchmarkStartupQuery(b, crowdsec.NewMemoryStore(nil), 30000)
}
