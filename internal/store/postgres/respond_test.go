package postgres_test

import (
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/crowdsec/crowdsectest"
	"github.com/kubeward/kubeward/internal/pgtest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
	"github.com/kubeward/kubeward/internal/store/postgres"
)

func openFresh(t *testing.T) *postgres.Store {
	srv := pgtest.Shared(t)
	s := open(t, srv.NewDatabase(t))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDecisionStoreContract(t *testing.T) {
	crowdsectest.RunStoreContract(t, func(t *testing.T, now func() time.Time) crowdsec.Store {
		return openFresh(t).Decisions(now)
	})
}

func TestBouncerStoreContract(t *testing.T) {
	crowdsectest.RunBouncerContract(t, func(t *testing.T) crowdsec.BouncerStore { return openFresh(t).Bouncers() })
}

func TestResponseStoreContract(t *testing.T) {
	respondtest.RunStoreContract(t, func(t *testing.T) respond.Store { return openFresh(t).ResponseActions() })
}
