package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kubeward/kubeward/internal/auth"
)

// ListRevokedTokens implements auth.Store.
func (s *Store) ListRevokedTokens(ctx context.Context, now time.Time) ([]auth.Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= $1 ORDER BY jti`, ts(now))
	if err != nil {
		return nil, fmt.Errorf("postgres store: list revoked tokens: %w", err)
	}
	defer rows.Close()
	var out []auth.Revocation
	for rows.Next() {
		var r auth.Revocation
		var exp pgtype.Timestamptz
		if err := rows.Scan(&r.JTI, &exp); err != nil {
			return nil, fmt.Errorf("postgres store: list revoked tokens: %w", err)
		}
		r.ExpiresAt = fromTS(exp)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: list revoked tokens: %w", err)
	}
	return out, nil
}
