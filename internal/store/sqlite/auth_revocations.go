package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
)

// ListRevokedTokens implements auth.Store.
func (s *Store) ListRevokedTokens(ctx context.Context, now time.Time) ([]auth.Revocation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= ? ORDER BY jti`, fmtTime(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list revoked tokens: %w", err)
	}
	defer rows.Close()
	var out []auth.Revocation
	for rows.Next() {
		var r auth.Revocation
		var exp sql.NullString
		if err := rows.Scan(&r.JTI, &exp); err != nil {
			return nil, fmt.Errorf("sqlite store: list revoked tokens: %w", err)
		}
		if r.ExpiresAt, err = parseTime(exp); err != nil {
			return nil, fmt.Errorf("sqlite store: revoked token %s: %w", r.JTI, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list revoked tokens: %w", err)
	}
	return out, nil
}
