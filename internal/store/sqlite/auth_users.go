package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

// DeleteUser implements auth.Store.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: delete user %q: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE owner = ?`, name); err != nil {
		return fmt.Errorf("sqlite store: delete the API tokens of user %q: %w", name, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("sqlite store: delete user %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite store: delete user %q: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: delete user %q: %w", name, err)
	}
	return nil
}

// ReplacePasswordHash implements auth.Store.
func (s *Store) ReplacePasswordHash(ctx context.Context, name, old, replacement string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?`, replacement, name, old)
	if err != nil {
		return fmt.Errorf("sqlite store: set the password of user %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite store: set the password of user %q: %w", name, err)
	}
	if n == 1 {
		return nil
	}
	var one int
	err = s.w.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, name).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite store: set the password of user %q: %w", name, err)
	}
	return fmt.Errorf("%w: the password of user %q changed meanwhile", auth.ErrConflict, name)
}
