package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

// DeleteUser implements auth.Store.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM api_tokens WHERE owner = $1`, text(name)); err != nil {
			return fmt.Errorf("postgres store: delete the API tokens of user %q: %w", name, err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE name = $1`, text(name))
		if err != nil {
			return fmt.Errorf("postgres store: delete user %q: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
		}
		return nil
	})
}

// ReplacePasswordHash implements auth.Store.
func (s *Store) ReplacePasswordHash(ctx context.Context, name, old, replacement string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE name = $2 AND password_hash = $3`, text(replacement), text(name), text(old))
	if err != nil {
		return fmt.Errorf("postgres store: set the password of user %q: %w", name, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM users WHERE name = $1`, text(name)).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres store: set the password of user %q: %w", name, err)
	}
	return fmt.Errorf("%w: the password of user %q changed meanwhile", auth.ErrConflict, name)
}
