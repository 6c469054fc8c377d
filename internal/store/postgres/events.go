package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/store"
)

// The detection events live in the table of migration 00006_events.sql.
var _ eventstore.Store = (*Events)(nil)

// Events is the eventstore.Store view of a Store.
type Events struct{ s *Store }

// Events returns the eventstore.Store (an *Events) kept in s.
func (s *Store) Events() eventstore.Store { return &Events{s: s} }

// Add implements eventstore.Store, in one transaction (one batched round
// trip).
func (ev *Events) Add(ctx context.Context, events []eventstore.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	tx, err := ev.s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres store: add %d events: %w", len(events), err)
	}
	defer rollback(ctx, tx)
	var b pgx.Batch
	for _, e := range events {
		b.Queue(`INSERT INTO events (id, time, rule, priority, source, hostname, namespace, pod, output, raw)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
			e.ID, at(e.Time), text(e.Rule), int16(e.Priority), text(e.Source), text(e.Hostname), text(e.Namespace), text(e.Pod), text(e.Output), text(string(e.Raw)))
	}
	res := tx.SendBatch(ctx, &b)
	added := 0
	for _, e := range events {
		tag, err := res.Exec()
		if err != nil {
			res.Close()
			return 0, fmt.Errorf("postgres store: add event %s of rule %q: %w", e.ID, e.Rule, err)
		}
		added += int(tag.RowsAffected())
	}
	if err := res.Close(); err != nil {
		return 0, fmt.Errorf("postgres store: add events: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("postgres store: commit %d events: %w", len(events), err)
	}
	return added, nil
}

// List implements eventstore.Store. The count and the page are read in
// one repeatable-read transaction, so they agree.
func (ev *Events) List(ctx context.Context, f eventstore.Filter) (eventstore.Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return eventstore.Page{}, err
	}
	where, args := store.EventWhere(f, store.Dialect{Placeholder: store.DollarNumbers, ILike: "ILIKE", Time: func(t time.Time) any { return at(t) }, Priority: func(p int) any { return int16(p) }})
	tx, err := ev.s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("postgres store: list events: %w", err)
	}
	defer rollback(ctx, tx)
	page := eventstore.Page{Items: []eventstore.Event{}}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM events"+where, args...).Scan(&page.Total); err != nil {
		return eventstore.Page{}, fmt.Errorf("postgres store: count events: %w", err)
	}
	n := len(args)
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT raw FROM events%s ORDER BY time DESC, id LIMIT $%d OFFSET $%d", where, n+1, n+2),
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("postgres store: list events: %w", err)
	}
	raws, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("postgres store: list events: %w", err)
	}
	for _, raw := range raws {
		e, err := eventstore.Decode([]byte(raw))
		if err != nil {
			return eventstore.Page{}, fmt.Errorf("postgres store: stored event is corrupt: %w", err)
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// Prune implements eventstore.Store.
func (ev *Events) Prune(ctx context.Context, before time.Time) (int, error) {
	tag, err := ev.s.pool.Exec(ctx, "DELETE FROM events WHERE time < $1", at(before))
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune events before %s: %w", before.Format(time.RFC3339), err)
	}
	return int(tag.RowsAffected()), nil
}
