package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// BenchmarkDecisionsStartupQuery30k: a bouncer's startup poll over 30k bans.
func BenchmarkDecisionsStartupQuery30k(b *testing.B) {
	srv := pgtest.Shared(b)
	s := open(b, srv.NewDatabase(b))
	b.Cleanup(func() { s.Close() })
	crowdsectest.BenchmarkStartupQuery(b, s.Decisions(nil), 30000)
}

// TestLastIDReportsOnlyCommittedDecisions holds a writer's transaction open
// after it took the next ID and inserted its row: LastID must not report
// that ID (nor Active return it) until the writer commits. A sequence read
// (nextval is visible before commit) would fail this.
func TestLastIDReportsOnlyCommittedDecisions(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDatabase(t)
	s := open(t, dsn)
	t.Cleanup(func() { s.Close() })
	d := s.Decisions(nil)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `UPDATE crowdsec_decision_seq SET last_id = last_id + 1 RETURNING last_id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	if _, err := tx.Exec(ctx, `INSERT INTO crowdsec_decisions (id, uuid, origin, type, scope, value, scenario, simulated, created_at, until)
		VALUES ($1, 'u1', 'kubeward', 'ban', 'Ip', '192.0.2.1', 's', false, now(), $2)`, id, until); err != nil {
		t.Fatal(err)
	}
	if last, err := d.LastID(ctx); err != nil || last != 0 {
		t.Fatalf("LastID during the open transaction = %d, %v; want 0", last, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	last, err := d.LastID(ctx)
	if err != nil || last != id {
		t.Fatalf("LastID after commit = %d, %v; want %d", last, err, id)
	}
	if list, err := d.Active(ctx, time.Now(), &crowdsec.Filter{}, 0, last); err != nil || len(list) != 1 || list[0].Value != "192.0.2.1" {
		t.Fatalf("Active after commit = %+v, %v", list, err)
	}
}
