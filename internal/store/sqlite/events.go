package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/store"
)

// The detection events live in the table of migration 00006_events.sql.
var _ eventstore.Store = (*Events)(nil)

// Events is the eventstore.Store view of a Store.
type Events struct{ s *Store }

// Events returns the eventstore.Store (an *Events) kept in s.
func (s *Store) Events() eventstore.Store { return &Events{s: s} }

// Add implements eventstore.Store, in one transaction.
func (ev *Events) Add(ctx context.Context, events []eventstore.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	tx, err := ev.s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: add %d events: %w", len(events), err)
	}
	defer rollback(ctx, tx)
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (id, time, rule, priority, source, hostname, namespace, pod, output, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: add events: %w", err)
	}
	defer stmt.Close()
	added := 0
	for _, e := range events {
		res, err := stmt.ExecContext(ctx, e.ID, rawTime(e.Time), e.Rule, int(e.Priority), e.Source, e.Hostname, e.Namespace, e.Pod, e.Output, string(e.Raw))
		if err != nil {
			return 0, fmt.Errorf("sqlite store: add event %s of rule %q: %w", e.ID, e.Rule, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlite store: add event %s: %w", e.ID, err)
		}
		added += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite store: commit %d events: %w", len(events), err)
	}
	return added, nil
}

// List implements eventstore.Store. The count and the page are read in
// one transaction, so they agree.
func (ev *Events) List(ctx context.Context, f eventstore.Filter) (eventstore.Page, error) {
	f, err := f.Normalize()
	if err != nil {
		return eventstore.Page{}, err
	}
	where, args := store.EventWhere(f, store.Dialect{Placeholder: store.QuestionMarks, ILike: "LIKE", Time: func(t time.Time) any { return rawTime(t) }, Priority: func(p int) any { return p }})
	tx, err := ev.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("sqlite store: list events: %w", err)
	}
	defer rollback(ctx, tx)
	page := eventstore.Page{Items: []eventstore.Event{}}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM events"+where, args...).Scan(&page.Total); err != nil {
		return eventstore.Page{}, fmt.Errorf("sqlite store: count events: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT raw FROM events"+where+" ORDER BY time DESC, id LIMIT ? OFFSET ?", append(args, f.Limit, f.Offset)...)
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("sqlite store: list events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return eventstore.Page{}, fmt.Errorf("sqlite store: list events: %w", err)
		}
		e, err := eventstore.Decode([]byte(raw))
		if err != nil {
			return eventstore.Page{}, fmt.Errorf("sqlite store: stored event is corrupt: %w", err)
		}
		page.Items = append(page.Items, e)
	}
	if err := rows.Err(); err != nil {
		return eventstore.Page{}, fmt.Errorf("sqlite store: list events: %w", err)
	}
	return page, nil
}

// Prune implements eventstore.Store.
func (ev *Events) Prune(ctx context.Context, before time.Time) (int, error) {
	res, err := ev.s.w.ExecContext(ctx, "DELETE FROM events WHERE time < ?", rawTime(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune events before %s: %w", before.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune events: %w", err)
	}
	return int(n), nil
}
