package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/store"
)

// GetState returns the value stored under key, or store.ErrNotFound.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, "SELECT value FROM kv_state WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get state %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutState stores value under key, replacing any previous value.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO kv_state (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, fmtTime(time.Now()))
	if err != nil {
		return fmt.Errorf("sqlite store: put state %q: %w", key, err)
	}
	return nil
}

// AddDeadLetter records one dead-lettered message. A zero CreatedAt is set
// to now.
func (s *Store) AddDeadLetter(ctx context.Context, dl store.DeadLetter) error {
	created := dl.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	var headers sql.NullString
	if len(dl.Headers) > 0 {
		b, err := json.Marshal(dl.Headers)
		if err != nil {
			return fmt.Errorf("sqlite store: add dead letter: encode headers: %w", err)
		}
		headers = sql.NullString{String: string(b), Valid: true}
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO dead_letters (topic, key, value, headers, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, dl.Topic, dl.Key, dl.Value, headers, dl.Reason, fmtTime(created))
	if err != nil {
		return fmt.Errorf("sqlite store: add dead letter: %w", err)
	}
	return nil
}

// ListDeadLetters returns the newest dead letters first. limit defaults to
// store.DefaultLimit and is at most store.MaxLimit.
func (s *Store) ListDeadLetters(ctx context.Context, limit, offset int) ([]store.DeadLetter, error) {
	q := store.CVEQuery{Limit: limit, Offset: offset}
	rows, err := s.r.QueryContext(ctx, `SELECT id, topic, key, value, headers, reason, created_at FROM dead_letters
		ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, q.PageLimit(), q.PageOffset())
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list dead letters: %w", err)
	}
	defer rows.Close()
	out := []store.DeadLetter{}
	for rows.Next() {
		var d store.DeadLetter
		var headers, created sql.NullString
		if err := rows.Scan(&d.ID, &d.Topic, &d.Key, &d.Value, &headers, &d.Reason, &created); err != nil {
			return nil, fmt.Errorf("sqlite store: list dead letters: %w", err)
		}
		if headers.Valid {
			if err := json.Unmarshal([]byte(headers.String), &d.Headers); err != nil {
				return nil, fmt.Errorf("sqlite store: list dead letters: headers of %d: %w", d.ID, err)
			}
		}
		if d.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("sqlite store: list dead letters: %d: %w", d.ID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list dead letters: %w", err)
	}
	return out, nil
}
