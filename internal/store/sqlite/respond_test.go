package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/crowdsec/crowdsectest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

func openTemp(t *testing.T) *sqlite.Store {
	s := open(t, filepath.Join(t.TempDir(), "kubeward.db"))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDecisionStoreContract(t *testing.T) {
	crowdsectest.RunStoreContract(t, func(t *testing.T, now func() time.Time) crowdsec.Store {
		return openTemp(t).Decisions(now)
	})
}

func TestBouncerStoreContract(t *testing.T) {
	crowdsectest.RunBouncerContract(t, func(t *testing.T) crowdsec.BouncerStore { return openTemp(t).Bouncers() })
}

func TestResponseStoreContract(t *testing.T) {
	respondtest.RunStoreContract(t, func(t *testing.T) respond.Store { return openTemp(t).ResponseActions() })
}

// BenchmarkDecisionsStartupQuery30k: a bouncer's startup poll over 30k bans.
func BenchmarkDecisionsStartupQuery30k(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "kubeward.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	crowdsectest.BenchmarkStartupQuery(b, s.Decisions(nil), 30000)
}
