package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

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

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

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

// at converts t for comparisons; unlike ts the zero time is a value.
func at(t time.Time) time.Time { return t.UTC().Truncate(store.TimePrecision) }

// Add implements crowdsec.Store.
//
// IDs come from the one-row counter crowdsec_decision_seq, bumped in the
// transaction that inserts the row: the UPDATE's row lock makes adders
// single-file until commit, and LastID reads the committed counter, so an ID
// is reported only once its decision is committed. A sequence would not do:
// nextval is handed out before commit, and a later ID could become visible
// first, so a stream bouncer would skip the earlier one for ever.
func (d *Decisions) Add(ctx context.Context, dec crowdsec.Decision) (crowdsec.Decision, error) {
	if err := dec.Validate(); err != nil {
		return crowdsec.Decision{}, err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: generate decision uuid: %w", err)
	}
	dec.UUID = id.String()
	dec.CreatedAt = at(d.now())
	dec.Until = at(dec.Until)
	dec.Scenario = text(dec.Scenario)
	dec.Origin = text(dec.Origin)
	tx, err := d.s.pool.Begin(ctx)
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: add decision %s: %w", dec.Value, err)
	}
	defer rollback(ctx, tx)
	if err := tx.QueryRow(ctx, `UPDATE crowdsec_decision_seq SET last_id = last_id + 1 RETURNING last_id`).Scan(&dec.ID); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: add decision %s: next id: %w", dec.Value, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO crowdsec_decisions (`+decisionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		dec.ID, dec.UUID, dec.Origin, dec.Type, dec.Scope, dec.Value, dec.Scenario, dec.Simulated, dec.CreatedAt, dec.Until); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: add decision %s: %w", dec.Value, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: add decision %s: commit: %w", dec.Value, err)
	}
	return dec, nil
}

// Delete implements crowdsec.Store.
func (d *Decisions) Delete(ctx context.Context, id int64) (crowdsec.Decision, error) {
	rows, err := d.s.pool.Query(ctx, `UPDATE crowdsec_decisions SET until = LEAST(until, $1)
		WHERE id = $2 RETURNING `+decisionColumns, at(d.now()), id)
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: delete decision %d: %w", id, err)
	}
	list, err := collectDecisions(rows, nil)
	if err != nil {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: delete decision %d: %w", id, err)
	}
	if len(list) == 0 {
		return crowdsec.Decision{}, fmt.Errorf("postgres store: delete decision %d: %w", id, crowdsec.ErrNotFound)
	}
	return list[0], nil
}

// LastID implements crowdsec.Store.
func (d *Decisions) LastID(ctx context.Context) (int64, error) {
	var id int64
	if err := d.s.pool.QueryRow(ctx, `SELECT last_id FROM crowdsec_decision_seq`).Scan(&id); err != nil {
		return 0, fmt.Errorf("postgres store: last decision id: %w", err)
	}
	return id, nil
}

// Active implements crowdsec.Store. The ID window, expiry and simulation
// are selected in SQL; the remaining filter (ranges, scenarios) in Go with
// crowdsec.Filter.Match, so every backend filters identically.
func (d *Decisions) Active(ctx context.Context, now time.Time, f *crowdsec.Filter, afterID, uptoID int64) ([]crowdsec.Decision, error) {
	q := `SELECT ` + decisionColumns + ` FROM crowdsec_decisions WHERE id > $1 AND id <= $2 AND until > $3`
	if !f.Simulated {
		q += ` AND NOT simulated`
	}
	rows, err := d.s.pool.Query(ctx, q+` ORDER BY id`, afterID, uptoID, at(now))
	if err != nil {
		return nil, fmt.Errorf("postgres store: active decisions: %w", err)
	}
	list, err := collectDecisions(rows, f)
	if err != nil {
		return nil, fmt.Errorf("postgres store: active decisions: %w", err)
	}
	return list, nil
}

// Ended implements crowdsec.Store.
func (d *Decisions) Ended(ctx context.Context, from, to time.Time, f *crowdsec.Filter) ([]crowdsec.Decision, error) {
	rows, err := d.s.pool.Query(ctx, `SELECT `+decisionColumns+` FROM crowdsec_decisions
		WHERE until > $1 AND until <= $2 ORDER BY id`, at(from), at(to))
	if err != nil {
		return nil, fmt.Errorf("postgres store: ended decisions: %w", err)
	}
	list, err := collectDecisions(rows, f)
	if err != nil {
		return nil, fmt.Errorf("postgres store: ended decisions: %w", err)
	}
	return list, nil
}

// Prune implements crowdsec.Store.
func (d *Decisions) Prune(ctx context.Context, before time.Time) (int, error) {
	tag, err := d.s.pool.Exec(ctx, `DELETE FROM crowdsec_decisions WHERE until < $1`, at(before))
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune decisions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// collectDecisions reads rows, keeping those f matches (all when f is nil).
func collectDecisions(rows pgx.Rows, f *crowdsec.Filter) ([]crowdsec.Decision, error) {
	defer rows.Close()
	var out []crowdsec.Decision
	for rows.Next() {
		var dec crowdsec.Decision
		if err := rows.Scan(&dec.ID, &dec.UUID, &dec.Origin, &dec.Type, &dec.Scope, &dec.Value, &dec.Scenario,
			&dec.Simulated, &dec.CreatedAt, &dec.Until); err != nil {
			return nil, err
		}
		dec.CreatedAt, dec.Until = dec.CreatedAt.UTC(), dec.Until.UTC()
		// Restores the parsed range Filter.Match needs; stored values are valid.
		if err := dec.Validate(); err != nil {
			return nil, fmt.Errorf("stored decision %d: %w", dec.ID, err)
		}
		if f == nil || f.Match(&dec) {
			out = append(out, dec)
		}
	}
	return out, rows.Err()
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
	_, err := b.s.pool.Exec(ctx, `INSERT INTO crowdsec_bouncers (name, key_hash, created_at) VALUES ($1, $2, $3)`,
		text(name), crowdsec.HashKey(key), at(time.Now()))
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return fmt.Errorf("postgres store: add bouncer %q: %w: the name or key is already in use (%s); choose another name or generate a new key", name, crowdsec.ErrBouncerExists, pgErr.ConstraintName)
	}
	if err != nil {
		return fmt.Errorf("postgres store: add bouncer %q: %w", name, err)
	}
	return nil
}

// Authenticate implements crowdsec.BouncerStore.
func (b *Bouncers) Authenticate(ctx context.Context, key string) (crowdsec.Bouncer, error) {
	if key == "" {
		return crowdsec.Bouncer{}, crowdsec.ErrForbidden
	}
	var out crowdsec.Bouncer
	var lastPull pgtype.Timestamptz
	err := b.s.pool.QueryRow(ctx, `SELECT name, key_hash, last_pull, last_id FROM crowdsec_bouncers WHERE key_hash = $1`,
		crowdsec.HashKey(key)).Scan(&out.Name, &out.KeyHash, &lastPull, &out.Cursor.LastID)
	if errors.Is(err, pgx.ErrNoRows) {
		return crowdsec.Bouncer{}, crowdsec.ErrForbidden
	}
	if err != nil {
		return crowdsec.Bouncer{}, fmt.Errorf("postgres store: authenticate bouncer: %w", err)
	}
	out.Cursor.LastPull = fromTS(lastPull)
	return out, nil
}

// SetCursor implements crowdsec.BouncerStore.
func (b *Bouncers) SetCursor(ctx context.Context, name string, c crowdsec.Cursor) error {
	tag, err := b.s.pool.Exec(ctx, `UPDATE crowdsec_bouncers SET last_pull = $1, last_id = $2 WHERE name = $3`,
		ts(c.LastPull), c.LastID, text(name))
	if err != nil {
		return fmt.Errorf("postgres store: set cursor of bouncer %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres store: set cursor of bouncer %q: no such bouncer", name)
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

// actionArgs returns a's columns in actionColumns order, without version.
func actionArgs(a *respond.Action) ([]any, error) {
	params, err := json.Marshal(a.Params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	var undo []byte
	if a.Undo != nil {
		undo = a.Undo
	}
	return []any{text(a.ID), text(string(a.Kind)), text(a.Target.Kind), text(a.Target.Namespace), text(a.Target.Name),
		string(params), int64(a.TTL), a.DryRun, text(a.Actor), text(a.Reason), string(a.State), text(a.Message), undo,
		at(a.CreatedAt), ts(a.AppliedAt), ts(a.ExpiresAt), ts(a.EndedAt)}, nil
}

// Create implements respond.Store.
func (r *ResponseActions) Create(ctx context.Context, a *respond.Action) error {
	if a.Version != 0 {
		return fmt.Errorf("postgres store: create action %s: version %d is not 0: %w", a.ID, a.Version, respond.ErrStale)
	}
	args, err := actionArgs(a)
	if err != nil {
		return fmt.Errorf("postgres store: create action %s: %w", a.ID, err)
	}
	tag, err := r.s.pool.Exec(ctx, `INSERT INTO response_actions (`+actionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1) ON CONFLICT (id) DO NOTHING`, args...)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// ID conflicts are absorbed by ON CONFLICT, so this is the live index.
		return fmt.Errorf("postgres store: create action %s on %s: %w", a.ID, a.Target, respond.ErrBusy)
	}
	if err != nil {
		return fmt.Errorf("postgres store: create action %s: %w", a.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres store: create action %s: the ID exists: %w", a.ID, respond.ErrStale)
	}
	a.Version = 1
	return nil
}

// Update implements respond.Store: a compare-and-set on version.
func (r *ResponseActions) Update(ctx context.Context, a *respond.Action) error {
	args, err := actionArgs(a)
	if err != nil {
		return fmt.Errorf("postgres store: update action %s: %w", a.ID, err)
	}
	tag, err := r.s.pool.Exec(ctx, `UPDATE response_actions SET kind = $2, target_kind = $3, target_namespace = $4,
		target_name = $5, params = $6, ttl_ns = $7, dry_run = $8, actor = $9, reason = $10, state = $11, message = $12,
		undo = $13, created_at = $14, applied_at = $15, expires_at = $16, ended_at = $17, version = version + 1
		WHERE id = $1 AND version = $18`, append(args, a.Version)...)
	if err != nil {
		return fmt.Errorf("postgres store: update action %s: %w", a.ID, err)
	}
	if tag.RowsAffected() == 0 {
		var stored int64
		err := r.s.pool.QueryRow(ctx, `SELECT version FROM response_actions WHERE id = $1`, a.ID).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres store: update action %s: %w", a.ID, respond.ErrNotFound)
		}
		return fmt.Errorf("postgres store: update action %s (version %d, stored %d): %w", a.ID, a.Version, stored, respond.ErrStale)
	}
	a.Version++
	return nil
}

// Get implements respond.Store.
func (r *ResponseActions) Get(ctx context.Context, id string) (respond.Action, error) {
	list, err := r.query(ctx, `SELECT `+actionColumns+` FROM response_actions WHERE id = $1`, id)
	if err != nil {
		return respond.Action{}, fmt.Errorf("postgres store: action %s: %w", id, err)
	}
	if len(list) == 0 {
		return respond.Action{}, fmt.Errorf("postgres store: action %s: %w", id, respond.ErrNotFound)
	}
	return list[0], nil
}

// List implements respond.Store.
func (r *ResponseActions) List(ctx context.Context, f respond.Filter) ([]respond.Action, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		where = append(where, `state = ANY(`+arg(states)+`)`)
	}
	if f.Kind != "" {
		where = append(where, `kind = `+arg(string(f.Kind)))
	}
	if f.Target != nil {
		where = append(where, `target_kind = `+arg(f.Target.Kind)+` AND target_namespace = `+arg(f.Target.Namespace)+
			` AND target_name = `+arg(f.Target.Name))
	}
	q := `SELECT ` + actionColumns + ` FROM response_actions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	list, err := r.query(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list actions: %w", err)
	}
	return list, nil
}

func (r *ResponseActions) query(ctx context.Context, q string, args ...any) ([]respond.Action, error) {
	rows, err := r.s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []respond.Action
	for rows.Next() {
		var a respond.Action
		var kind, state, params string
		var ttl int64
		var undo []byte
		var created time.Time
		var applied, expires, ended pgtype.Timestamptz
		if err := rows.Scan(&a.ID, &kind, &a.Target.Kind, &a.Target.Namespace, &a.Target.Name, &params, &ttl, &a.DryRun,
			&a.Actor, &a.Reason, &state, &a.Message, &undo, &created, &applied, &expires, &ended, &a.Version); err != nil {
			return nil, err
		}
		a.Kind, a.State, a.TTL = respond.Kind(kind), respond.State(state), time.Duration(ttl)
		if len(undo) > 0 {
			a.Undo = json.RawMessage(undo)
		}
		if err := json.Unmarshal([]byte(params), &a.Params); err != nil {
			return nil, fmt.Errorf("action %s: stored params: %w", a.ID, err)
		}
		a.CreatedAt, a.AppliedAt, a.ExpiresAt, a.EndedAt = created.UTC(), fromTS(applied), fromTS(expires), fromTS(ended)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AppendEvent implements respond.Store.
func (r *ResponseActions) AppendEvent(ctx context.Context, e respond.Event) error {
	if _, err := r.s.pool.Exec(ctx, `INSERT INTO response_events (action_id, at, actor, from_state, to_state, message)
		VALUES ($1, $2, $3, $4, $5, $6)`, text(e.ActionID), at(e.At), text(e.Actor), string(e.From), string(e.To), text(e.Message)); err != nil {
		return fmt.Errorf("postgres store: append event of action %s: %w", e.ActionID, err)
	}
	return nil
}

// Events implements respond.Store.
func (r *ResponseActions) Events(ctx context.Context, actionID string) ([]respond.Event, error) {
	rows, err := r.s.pool.Query(ctx, `SELECT at, actor, from_state, to_state, message FROM response_events
		WHERE action_id = $1 ORDER BY seq`, actionID)
	if err != nil {
		return nil, fmt.Errorf("postgres store: events of action %s: %w", actionID, err)
	}
	defer rows.Close()
	var out []respond.Event
	for rows.Next() {
		e := respond.Event{ActionID: actionID}
		var from, to string
		if err := rows.Scan(&e.At, &e.Actor, &from, &to, &e.Message); err != nil {
			return nil, fmt.Errorf("postgres store: events of action %s: %w", actionID, err)
		}
		e.At, e.From, e.To = e.At.UTC(), respond.State(from), respond.State(to)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: events of action %s: %w", actionID, err)
	}
	return out, nil
}
