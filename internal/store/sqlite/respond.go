package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/store"
)

// The response subsystem's state lives in the tables of migration
// 00005_respond.sql. Its three storage interfaces share method names (Add,
// List…), so each is served by a small view of the Store.
var (
	_ crowdsec.Store        = (*Decisions)(nil)
	_ crowdsec.BouncerStore = (*Bouncers)(nil)
	_ respond.Store         = (*ResponseActions)(nil)
)

// Decisions is the crowdsec.Store view of a Store.
type Decisions struct {
	s   *Store
	now func() time.Time
}

// Decisions returns the crowdsec.Store (a *Decisions) kept in s; now is the clock that
// stamps CreatedAt and deletions (time.Now when nil).
func (s *Store) Decisions(now func() time.Time) crowdsec.Store {
	if now == nil {
		now = time.Now
	}
	return &Decisions{s: s, now: now}
}

const decisionColumns = `id, uuid, origin, type, scope, value, scenario, simulated, created_at, until`

// rawTime formats t for comparisons; unlike fmtTime the zero time is a value.
func rawTime(t time.Time) string {
	return t.UTC().Truncate(store.TimePrecision).Format(timeLayout)
}

// Add implements crowdsec.Store. The ID counter and the row are written in
// one immediate (single-writer) transaction, so LastID never reports an ID
// whose decision is not yet visible.
func (d *Decisions) Add(ctx context.Context, dec crowdsec.Decision) (crowdsec.Decision, error) {
	if err := dec.Validate(); err != nil {
		return crowdsec.Decision{}, err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: generate decision uuid: %w", err)
	}
	dec.UUID = id.String()
	dec.CreatedAt = d.now().UTC().Truncate(store.TimePrecision)
	dec.Until = dec.Until.UTC().Truncate(store.TimePrecision)
	tx, err := d.s.w.BeginTx(ctx, nil)
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: add decision %s: %w", dec.Value, err)
	}
	defer rollback(ctx, tx)
	if err := tx.QueryRowContext(ctx, `UPDATE crowdsec_decision_seq SET last_id = last_id + 1 RETURNING last_id`).Scan(&dec.ID); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: add decision %s: next id: %w", dec.Value, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO crowdsec_decisions (`+decisionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		dec.ID, dec.UUID, dec.Origin, dec.Type, dec.Scope, dec.Value, dec.Scenario, dec.Simulated,
		rawTime(dec.CreatedAt), rawTime(dec.Until)); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: add decision %s: %w", dec.Value, err)
	}
	if err := tx.Commit(); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: add decision %s: commit: %w", dec.Value, err)
	}
	return dec, nil
}

// Delete implements crowdsec.Store.
func (d *Decisions) Delete(ctx context.Context, id int64) (crowdsec.Decision, error) {
	now := rawTime(d.now())
	row := d.s.w.QueryRowContext(ctx, `UPDATE crowdsec_decisions SET until = CASE WHEN until > ? THEN ? ELSE until END
		WHERE id = ? RETURNING `+decisionColumns, now, now, id)
	dec, err := scanDecision(row)
	if errors.Is(err, sql.ErrNoRows) {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: delete decision %d: %w", id, crowdsec.ErrNotFound)
	}
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("sqlite store: delete decision %d: %w", id, err)
	}
	return dec, nil
}

// LastID implements crowdsec.Store.
func (d *Decisions) LastID(ctx context.Context) (int64, error) {
	var id int64
	if err := d.s.r.QueryRowContext(ctx, `SELECT last_id FROM crowdsec_decision_seq`).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite store: last decision id: %w", err)
	}
	return id, nil
}

// Active implements crowdsec.Store. The ID window, expiry and simulation
// are selected in SQL; the remaining filter (ranges, scenarios) in Go with
// crowdsec.Filter.Match, so every backend filters identically.
func (d *Decisions) Active(ctx context.Context, now time.Time, f *crowdsec.Filter, afterID, uptoID int64) ([]crowdsec.Decision, error) {
	q := `SELECT ` + decisionColumns + ` FROM crowdsec_decisions WHERE id > ? AND id <= ? AND until > ?`
	if !f.Simulated {
		q += ` AND simulated = 0`
	}
	return d.query(ctx, "active decisions", f, q+` ORDER BY id`, afterID, uptoID, rawTime(now))
}

// Ended implements crowdsec.Store.
func (d *Decisions) Ended(ctx context.Context, from, to time.Time, f *crowdsec.Filter) ([]crowdsec.Decision, error) {
	return d.query(ctx, "ended decisions", f, `SELECT `+decisionColumns+` FROM crowdsec_decisions
		WHERE until > ? AND until <= ? ORDER BY id`, rawTime(from), rawTime(to))
}

func (d *Decisions) query(ctx context.Context, what string, f *crowdsec.Filter, q string, args ...any) ([]crowdsec.Decision, error) {
	rows, err := d.s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []crowdsec.Decision
	for rows.Next() {
		dec, err := scanDecision(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: %s: %w", what, err)
		}
		if f.Match(&dec) {
			out = append(out, dec)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: %s: %w", what, err)
	}
	return out, nil
}

// Prune implements crowdsec.Store.
func (d *Decisions) Prune(ctx context.Context, before time.Time) (int, error) {
	res, err := d.s.w.ExecContext(ctx, `DELETE FROM crowdsec_decisions WHERE until < ?`, rawTime(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune decisions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune decisions: %w", err)
	}
	return int(n), nil
}

func scanDecision(row interface{ Scan(...any) error }) (crowdsec.Decision, error) {
	var dec crowdsec.Decision
	var created, until sql.NullString
	if err := row.Scan(&dec.ID, &dec.UUID, &dec.Origin, &dec.Type, &dec.Scope, &dec.Value, &dec.Scenario,
		&dec.Simulated, &created, &until); err != nil {
		return dec, err
	}
	var err error
	if dec.CreatedAt, err = parseTime(created); err != nil {
		return dec, fmt.Errorf("decision %d: %w", dec.ID, err)
	}
	if dec.Until, err = parseTime(until); err != nil {
		return dec, fmt.Errorf("decision %d: %w", dec.ID, err)
	}
	// Restores the parsed range Filter.Match needs; stored values are valid.
	if err := dec.Validate(); err != nil {
		return dec, fmt.Errorf("stored decision %d: %w", dec.ID, err)
	}
	return dec, nil
}

// Bouncers is the crowdsec.BouncerStore view of a Store.
type Bouncers struct{ s *Store }

// Bouncers returns the crowdsec.BouncerStore (a *Bouncers) kept in s.
func (s *Store) Bouncers() crowdsec.BouncerStore { return &Bouncers{s: s} }

// Add implements crowdsec.BouncerStore.
func (b *Bouncers) Add(ctx context.Context, name, key string) error {
	if err := crowdsec.CheckBouncer(name, key); err != nil {
		return err
	}
	hash := crowdsec.HashKey(key)
	tx, err := b.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: add bouncer %q: %w", name, err)
	}
	defer rollback(ctx, tx)
	// The immediate transaction holds the write lock, so check-then-insert
	// cannot race.
	var taken string
	switch err := tx.QueryRowContext(ctx, `SELECT CASE WHEN name = ? THEN 'name' ELSE 'key' END
		FROM crowdsec_bouncers WHERE name = ? OR key_hash = ? LIMIT 1`, name, name, hash).Scan(&taken); {
	case err == nil:
		return fmt.Errorf("sqlite store: add bouncer %q: %w: the %s is already in use; choose another name or generate a new key", name, crowdsec.ErrBouncerExists, taken)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite store: add bouncer %q: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO crowdsec_bouncers (name, key_hash, created_at) VALUES (?, ?, ?)`,
		name, hash, rawTime(time.Now())); err != nil {
		return fmt.Errorf("sqlite store: add bouncer %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: add bouncer %q: commit: %w", name, err)
	}
	return nil
}

// Authenticate implements crowdsec.BouncerStore.
func (b *Bouncers) Authenticate(ctx context.Context, key string) (crowdsec.Bouncer, error) {
	if key == "" {
		return crowdsec.Bouncer{}, crowdsec.ErrForbidden
	}
	var out crowdsec.Bouncer
	var lastPull sql.NullString
	err := b.s.r.QueryRowContext(ctx, `SELECT name, key_hash, last_pull, last_id FROM crowdsec_bouncers WHERE key_hash = ?`,
		crowdsec.HashKey(key)).Scan(&out.Name, &out.KeyHash, &lastPull, &out.Cursor.LastID)
	if errors.Is(err, sql.ErrNoRows) {
		return crowdsec.Bouncer{}, crowdsec.ErrForbidden
	}
	if err != nil {
		return crowdsec.Bouncer{}, fmt.Errorf("sqlite store: authenticate bouncer: %w", err)
	}
	if out.Cursor.LastPull, err = parseTime(lastPull); err != nil {
		return crowdsec.Bouncer{}, fmt.Errorf("sqlite store: bouncer %q: %w", out.Name, err)
	}
	return out, nil
}

// SetCursor implements crowdsec.BouncerStore.
func (b *Bouncers) SetCursor(ctx context.Context, name string, c crowdsec.Cursor) error {
	res, err := b.s.w.ExecContext(ctx, `UPDATE crowdsec_bouncers SET last_pull = ?, last_id = ? WHERE name = ?`,
		fmtTime(c.LastPull), c.LastID, name)
	if err != nil {
		return fmt.Errorf("sqlite store: set cursor of bouncer %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite store: set cursor of bouncer %q: no such bouncer (rows %d, %v)", name, n, err)
	}
	return nil
}

// ResponseActions is the respond.Store view of a Store.
type ResponseActions struct{ s *Store }

// ResponseActions returns the respond.Store (a *ResponseActions) kept in s. The
// methods return interfaces so callers holding a store.Store can reach them
// through one small interface whatever the backend (see cli.responseStores).
func (s *Store) ResponseActions() respond.Store { return &ResponseActions{s: s} }

const actionColumns = `id, kind, target_kind, target_namespace, target_name, params, ttl_ns, dry_run, actor, reason,
	state, message, undo, created_at, applied_at, expires_at, ended_at, version`

// Create implements respond.Store.
func (r *ResponseActions) Create(ctx context.Context, a *respond.Action) error {
	if a.Version != 0 {
		return fmt.Errorf("sqlite store: create action %s: version %d is not 0: %w", a.ID, a.Version, respond.ErrStale)
	}
	params, err := json.Marshal(a.Params)
	if err != nil {
		return fmt.Errorf("sqlite store: create action %s: encode params: %w", a.ID, err)
	}
	res, err := r.s.w.ExecContext(ctx, `INSERT INTO response_actions (`+actionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING`,
		a.ID, string(a.Kind), a.Target.Kind, a.Target.Namespace, a.Target.Name, string(params), int64(a.TTL), a.DryRun,
		a.Actor, a.Reason, string(a.State), a.Message, nullBytes(a.Undo),
		rawTime(a.CreatedAt), fmtTime(a.AppliedAt), fmtTime(a.ExpiresAt), fmtTime(a.EndedAt))
	if sqErr := (*sqlitedrv.Error)(nil); errors.As(err, &sqErr) && sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		// ID conflicts are absorbed by ON CONFLICT, so this is the live index.
		return fmt.Errorf("sqlite store: create action %s on %s: %w", a.ID, a.Target, respond.ErrBusy)
	}
	if err != nil {
		return fmt.Errorf("sqlite store: create action %s: %w", a.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite store: create action %s: the ID exists: %w", a.ID, respond.ErrStale)
	}
	a.Version = 1
	return nil
}

// Update implements respond.Store.
func (r *ResponseActions) Update(ctx context.Context, a *respond.Action) error {
	params, err := json.Marshal(a.Params)
	if err != nil {
		return fmt.Errorf("sqlite store: update action %s: encode params: %w", a.ID, err)
	}
	tx, err := r.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: update action %s: %w", a.ID, err)
	}
	defer rollback(ctx, tx)
	var stored int64
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM response_actions WHERE id = ?`, a.ID).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite store: update action %s: %w", a.ID, respond.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite store: update action %s: %w", a.ID, err)
	case stored != a.Version:
		return fmt.Errorf("sqlite store: update action %s (version %d, stored %d): %w", a.ID, a.Version, stored, respond.ErrStale)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE response_actions SET kind = ?, target_kind = ?, target_namespace = ?,
		target_name = ?, params = ?, ttl_ns = ?, dry_run = ?, actor = ?, reason = ?, state = ?, message = ?, undo = ?,
		created_at = ?, applied_at = ?, expires_at = ?, ended_at = ?, version = version + 1 WHERE id = ?`,
		string(a.Kind), a.Target.Kind, a.Target.Namespace, a.Target.Name, string(params), int64(a.TTL), a.DryRun,
		a.Actor, a.Reason, string(a.State), a.Message, nullBytes(a.Undo),
		rawTime(a.CreatedAt), fmtTime(a.AppliedAt), fmtTime(a.ExpiresAt), fmtTime(a.EndedAt), a.ID); err != nil {
		return fmt.Errorf("sqlite store: update action %s: %w", a.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: update action %s: commit: %w", a.ID, err)
	}
	a.Version++
	return nil
}

// Get implements respond.Store.
func (r *ResponseActions) Get(ctx context.Context, id string) (respond.Action, error) {
	a, err := scanAction(r.s.r.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM response_actions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return respond.Action{}, fmt.Errorf("sqlite store: action %s: %w", id, respond.ErrNotFound)
	}
	if err != nil {
		return respond.Action{}, fmt.Errorf("sqlite store: action %s: %w", id, err)
	}
	return a, nil
}

// List implements respond.Store.
func (r *ResponseActions) List(ctx context.Context, f respond.Filter) ([]respond.Action, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, `state IN (?`+strings.Repeat(`, ?`, len(f.States)-1)+`)`)
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Kind != "" {
		where = append(where, `kind = ?`)
		args = append(args, string(f.Kind))
	}
	if f.Target != nil {
		where = append(where, `target_kind = ? AND target_namespace = ? AND target_name = ?`)
		args = append(args, f.Target.Kind, f.Target.Namespace, f.Target.Name)
	}
	q := `SELECT ` + actionColumns + ` FROM response_actions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := r.s.r.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list actions: %w", err)
	}
	defer rows.Close()
	var out []respond.Action
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list actions: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list actions: %w", err)
	}
	return out, nil
}

// AppendEvent implements respond.Store.
func (r *ResponseActions) AppendEvent(ctx context.Context, e respond.Event) error {
	if _, err := r.s.w.ExecContext(ctx, `INSERT INTO response_events (action_id, at, actor, from_state, to_state, message)
		VALUES (?, ?, ?, ?, ?, ?)`, e.ActionID, rawTime(e.At), e.Actor, string(e.From), string(e.To), e.Message); err != nil {
		return fmt.Errorf("sqlite store: append event of action %s: %w", e.ActionID, err)
	}
	return nil
}

// Events implements respond.Store.
func (r *ResponseActions) Events(ctx context.Context, actionID string) ([]respond.Event, error) {
	rows, err := r.s.r.QueryContext(ctx, `SELECT at, actor, from_state, to_state, message FROM response_events
		WHERE action_id = ? ORDER BY seq`, actionID)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: events of action %s: %w", actionID, err)
	}
	defer rows.Close()
	var out []respond.Event
	for rows.Next() {
		e := respond.Event{ActionID: actionID}
		var at sql.NullString
		var from, to string
		if err := rows.Scan(&at, &e.Actor, &from, &to, &e.Message); err != nil {
			return nil, fmt.Errorf("sqlite store: events of action %s: %w", actionID, err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("sqlite store: events of action %s: %w", actionID, err)
		}
		e.From, e.To = respond.State(from), respond.State(to)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: events of action %s: %w", actionID, err)
	}
	return out, nil
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func scanAction(row interface{ Scan(...any) error }) (respond.Action, error) {
	var a respond.Action
	var kind, state, params string
	var ttl int64
	var undo []byte
	var created, applied, expires, ended sql.NullString
	if err := row.Scan(&a.ID, &kind, &a.Target.Kind, &a.Target.Namespace, &a.Target.Name, &params, &ttl, &a.DryRun,
		&a.Actor, &a.Reason, &state, &a.Message, &undo, &created, &applied, &expires, &ended, &a.Version); err != nil {
		return a, err
	}
	a.Kind, a.State, a.TTL = respond.Kind(kind), respond.State(state), time.Duration(ttl)
	if len(undo) > 0 {
		a.Undo = json.RawMessage(undo)
	}
	if err := json.Unmarshal([]byte(params), &a.Params); err != nil {
		return a, fmt.Errorf("action %s: stored params: %w", a.ID, err)
	}
	for _, p := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&a.CreatedAt, created}, {&a.AppliedAt, applied}, {&a.ExpiresAt, expires}, {&a.EndedAt, ended}} {
		t, err := parseTime(p.src)
		if err != nil {
			return a, fmt.Errorf("action %s: %w", a.ID, err)
		}
		*p.dst = t
	}
	return a, nil
}
