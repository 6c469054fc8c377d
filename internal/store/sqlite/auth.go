package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

var _ auth.Store = (*Store)(nil)

// CreateUser implements auth.Store.
func (s *Store) CreateUser(ctx context.Context, u auth.User) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, u.Name, u.Role.String(), u.PasswordHash, fmtTime(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite store: create user %q: %w", u.Name, err)
	}
	return authConflictIfNone(res, "user "+u.Name)
}

func authConflictIfNone(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, auth.ErrConflict)
	}
	return nil
}

// GetUser implements auth.Store.
func (s *Store) GetUser(ctx context.Context, name string) (auth.User, error) {
	row := s.r.QueryRowContext(ctx, `SELECT name, role, password_hash, created_at FROM users WHERE name = ?`, name)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("sqlite store: get user %q: %w", name, err)
	}
	return u, nil
}

type authRow interface{ Scan(dest ...any) error }

func scanUser(row authRow) (auth.User, error) {
	var u auth.User
	var role string
	var created sql.NullString
	if err := row.Scan(&u.Name, &role, &u.PasswordHash, &created); err != nil {
		return u, err
	}
	var err error
	if u.Role, err = auth.ParseRole(role); err != nil {
		return u, fmt.Errorf("stored user %q: %w", u.Name, err)
	}
	if u.CreatedAt, err = parseTime(created); err != nil {
		return u, err
	}
	return u, nil
}

// ListUsers implements auth.Store.
func (s *Store) ListUsers(ctx context.Context) ([]auth.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, password_hash, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list users: %w", err)
	}
	defer rows.Close()
	var us []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list users: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list users: %w", err)
	}
	return us, nil
}

// CountUsers implements auth.Store.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite store: count users: %w", err)
	}
	return n, nil
}

// CreateAPIToken implements auth.Store.
func (s *Store) CreateAPIToken(ctx context.Context, t auth.APIToken) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens (id, name, owner, role, hash, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, t.Name, t.Owner, t.Role.String(), t.Hash, fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite store: create API token %s: %w", t.ID, err)
	}
	return authConflictIfNone(res, "API token "+t.ID)
}

const apiTokenColumns = `id, name, owner, role, hash, created_at, expires_at`

func scanAPIToken(row authRow) (auth.APIToken, error) {
	var t auth.APIToken
	var role string
	var created, expires sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &t.Owner, &role, &t.Hash, &created, &expires); err != nil {
		return t, err
	}
	var err error
	if t.Role, err = auth.ParseRole(role); err != nil {
		return t, fmt.Errorf("stored API token %s: %w", t.ID, err)
	}
	if t.CreatedAt, err = parseTime(created); err != nil {
		return t, err
	}
	if t.ExpiresAt, err = parseTime(expires); err != nil {
		return t, err
	}
	return t, nil
}

// GetAPITokenByHash implements auth.Store.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash []byte) (auth.APIToken, error) {
	t, err := scanAPIToken(s.r.QueryRowContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.APIToken{}, fmt.Errorf("API token: %w", store.ErrNotFound)
	}
	if err != nil {
		return auth.APIToken{}, fmt.Errorf("sqlite store: get API token: %w", err)
	}
	return t, nil
}

// ListAPITokens implements auth.Store.
func (s *Store) ListAPITokens(ctx context.Context, owner string) ([]auth.APIToken, error) {
	q, args := `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at, id`, []any{}
	if owner != "" {
		q, args = `SELECT `+apiTokenColumns+` FROM api_tokens WHERE owner = ? ORDER BY created_at, id`, []any{owner}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list API tokens: %w", err)
	}
	defer rows.Close()
	var ts []auth.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list API tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list API tokens: %w", err)
	}
	return ts, nil
}

// DeleteAPIToken implements auth.Store.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite store: delete API token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite store: delete API token %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("API token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, jti, fmtTime(expiresAt))
	if err != nil {
		return fmt.Errorf("sqlite store: revoke token %s: %w", jti, err)
	}
	return nil
}

// TokenRevoked implements auth.Store.
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM revoked_tokens WHERE jti = ?`, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite store: check revoked token: %w", err)
	}
	return true, nil
}

// PurgeRevokedTokens implements auth.Store.
func (s *Store) PurgeRevokedTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite store: purge revoked tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite store: purge revoked tokens: %w", err)
	}
	return n, nil
}

// EnsureSigningKey implements auth.Store.
func (s *Store) EnsureSigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO signing_keys (name, secret, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, name, candidate, fmtTime(time.Now())); err != nil {
		return nil, fmt.Errorf("sqlite store: store signing key %q: %w", name, err)
	}
	var key []byte
	if err := s.w.QueryRowContext(ctx, `SELECT secret FROM signing_keys WHERE name = ?`, name).Scan(&key); err != nil {
		return nil, fmt.Errorf("sqlite store: read signing key %q: %w", name, err)
	}
	return key, nil
}

// AppendAudit implements auth.Store.
func (s *Store) AppendAudit(ctx context.Context, e auth.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_log (time, actor, action, target, status, source)
		VALUES (?, ?, ?, ?, ?, ?)`, fmtTime(e.Time), e.Actor, e.Action, e.Target, e.Status, e.Source)
	if err != nil {
		return fmt.Errorf("sqlite store: append audit entry: %w", err)
	}
	return nil
}

// ListAudit implements auth.Store.
func (s *Store) ListAudit(ctx context.Context, q auth.AuditQuery) ([]auth.AuditEntry, int, error) {
	var where []string
	var args []any
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, fmtTime(q.Since))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM audit_log`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite store: count audit entries: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, time, actor, action, target, status, source FROM audit_log`+cond+
		` ORDER BY time DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: list audit entries: %w", err)
	}
	defer rows.Close()
	var es []auth.AuditEntry
	for rows.Next() {
		var e auth.AuditEntry
		var t sql.NullString
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Status, &e.Source); err != nil {
			return nil, 0, fmt.Errorf("sqlite store: list audit entries: %w", err)
		}
		if e.Time, err = parseTime(t); err != nil {
			return nil, 0, fmt.Errorf("sqlite store: list audit entries: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite store: list audit entries: %w", err)
	}
	return es, total, nil
}
