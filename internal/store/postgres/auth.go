package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

var _ auth.Store = (*Store)(nil)

// CreateUser implements auth.Store.
func (s *Store) CreateUser(ctx context.Context, u auth.User) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO users (name, role, password_hash, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`, text(u.Name), u.Role.String(), u.PasswordHash, ts(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("postgres store: create user %q: %w", u.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("user %s: %w", u.Name, auth.ErrConflict)
	}
	return nil
}

func scanAuthUser(row pgx.Row) (auth.User, error) {
	var u auth.User
	var role string
	var created pgtype.Timestamptz
	if err := row.Scan(&u.Name, &role, &u.PasswordHash, &created); err != nil {
		return u, err
	}
	var err error
	if u.Role, err = auth.ParseRole(role); err != nil {
		return u, fmt.Errorf("stored user %q: %w", u.Name, err)
	}
	u.CreatedAt = fromTS(created)
	return u, nil
}

// GetUser implements auth.Store.
func (s *Store) GetUser(ctx context.Context, name string) (auth.User, error) {
	u, err := scanAuthUser(s.pool.QueryRow(ctx, `SELECT name, role, password_hash, created_at FROM users WHERE name = $1`, text(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("postgres store: get user %q: %w", name, err)
	}
	return u, nil
}

// ListUsers implements auth.Store.
func (s *Store) ListUsers(ctx context.Context) ([]auth.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, role, password_hash, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list users: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.User, error) { return scanAuthUser(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres store: list users: %w", err)
	}
	return nilIfEmpty(us), nil
}

// CountUsers implements auth.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres store: count users: %w", err)
	}
	return n, nil
}

// CreateAPIToken implements auth.Store.
func (s *Store) CreateAPIToken(ctx context.Context, t auth.APIToken) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (id, name, owner, role, hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		text(t.ID), text(t.Name), text(t.Owner), t.Role.String(), t.Hash, ts(t.CreatedAt), ts(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres store: create API token %s: %w", t.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("API token %s: %w", t.ID, auth.ErrConflict)
	}
	return nil
}

const apiTokenColumns = `id, name, owner, role, hash, created_at, expires_at`

func scanAPIToken(row pgx.Row) (auth.APIToken, error) {
	var t auth.APIToken
	var role string
	var created, expires pgtype.Timestamptz
	if err := row.Scan(&t.ID, &t.Name, &t.Owner, &role, &t.Hash, &created, &expires); err != nil {
		return t, err
	}
	var err error
	if t.Role, err = auth.ParseRole(role); err != nil {
		return t, fmt.Errorf("stored API token %s: %w", t.ID, err)
	}
	t.CreatedAt, t.ExpiresAt = fromTS(created), fromTS(expires)
	return t, nil
}

// GetAPITokenByHash implements auth.Store.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash []byte) (auth.APIToken, error) {
	t, err := scanAPIToken(s.pool.QueryRow(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.APIToken{}, fmt.Errorf("API token: %w", store.ErrNotFound)
	}
	if err != nil {
		return auth.APIToken{}, fmt.Errorf("postgres store: get API token: %w", err)
	}
	return t, nil
}

// ListAPITokens implements auth.Store.
func (s *Store) ListAPITokens(ctx context.Context, owner string) ([]auth.APIToken, error) {
	q, args := `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at, id`, []any{}
	if owner != "" {
		q, args = `SELECT `+apiTokenColumns+` FROM api_tokens WHERE owner = $1 ORDER BY created_at, id`, []any{text(owner)}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list API tokens: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.APIToken, error) { return scanAPIToken(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres store: list API tokens: %w", err)
	}
	return nilIfEmpty(ts), nil
}

// DeleteAPIToken implements auth.Store.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, text(id))
	if err != nil {
		return fmt.Errorf("postgres store: delete API token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("API token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(revoked_tokens.expires_at, excluded.expires_at)`,
		text(jti), ts(expiresAt))
	if err != nil {
		return fmt.Errorf("postgres store: revoke token %s: %w", jti, err)
	}
	return nil
}

// TokenRevoked implements auth.Store.
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)`, text(jti)).Scan(&revoked); err != nil {
		return false, fmt.Errorf("postgres store: check revoked token: %w", err)
	}
	return revoked, nil
}

// PurgeRevokedTokens implements auth.Store.
func (s *Store) PurgeRevokedTokens(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM revoked_tokens WHERE expires_at < $1`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("postgres store: purge revoked tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}

// EnsureSigningKey implements auth.Store.
func (s *Store) EnsureSigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (name, secret, created_at) VALUES ($1, $2, now())
		ON CONFLICT (name) DO NOTHING`, text(name), candidate); err != nil {
		return nil, fmt.Errorf("postgres store: store signing key %q: %w", name, err)
	}
	var key []byte
	if err := s.pool.QueryRow(ctx, `SELECT secret FROM signing_keys WHERE name = $1`, text(name)).Scan(&key); err != nil {
		return nil, fmt.Errorf("postgres store: read signing key %q: %w", name, err)
	}
	return key, nil
}

// AppendAudit implements auth.Store.
func (s *Store) AppendAudit(ctx context.Context, e auth.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_log (time, actor, action, target, status, source)
		VALUES ($1, $2, $3, $4, $5, $6)`, ts(e.Time), text(e.Actor), text(e.Action), text(e.Target), e.Status, text(e.Source))
	if err != nil {
		return fmt.Errorf("postgres store: append audit entry: %w", err)
	}
	return nil
}

// ListAudit implements auth.Store.
func (s *Store) ListAudit(ctx context.Context, q auth.AuditQuery) ([]auth.AuditEntry, int, error) {
	var where []string
	var args []any
	if q.Actor != "" {
		args = append(args, text(q.Actor))
		where = append(where, fmt.Sprintf("actor = $%d", len(args)))
	}
	if !q.Since.IsZero() {
		args = append(args, ts(q.Since))
		where = append(where, fmt.Sprintf("time >= $%d", len(args)))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres store: count audit entries: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, limit, max(q.Offset, 0))
	rows, err := s.pool.Query(ctx, `SELECT id, time, actor, action, target, status, source FROM audit_log`+cond+
		fmt.Sprintf(` ORDER BY time DESC, id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres store: list audit entries: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.AuditEntry, error) {
		var e auth.AuditEntry
		var t pgtype.Timestamptz
		err := r.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Status, &e.Source)
		e.Time = fromTS(t)
		return e, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres store: list audit entries: %w", err)
	}
	return nilIfEmpty(es), total, nil
}
