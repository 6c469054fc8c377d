package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kubeward/kubeward/internal/store"
)

// GetState returns the value stored under key, or store.ErrNotFound.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM kv_state WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("state %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres store: get state %q: %w", key, err)
	}
	return v, nil
}

// PutState stores value under key, replacing any previous value.
func (s *Store) PutState(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO kv_state (key, value, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, text(key), value)
	if err != nil {
		return fmt.Errorf("postgres store: put state %q: %w", key, err)
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
	var headers []byte
	if len(dl.Headers) > 0 {
		clean := make(map[string]string, len(dl.Headers))
		for k, v := range dl.Headers {
			clean[text(k)] = text(v)
		}
		var err error
		if headers, err = json.Marshal(clean); err != nil {
			return fmt.Errorf("postgres store: add dead letter: encode headers: %w", err)
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO dead_letters (topic, key, value, headers, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, text(dl.Topic), text(dl.Key), dl.Value, headers, text(dl.Reason), ts(created))
	if err != nil {
		return fmt.Errorf("postgres store: add dead letter: %w", err)
	}
	return nil
}

// ListDeadLetters returns the newest dead letters first. limit defaults to
// store.DefaultLimit and is at most store.MaxLimit.
func (s *Store) ListDeadLetters(ctx context.Context, limit, offset int) ([]store.DeadLetter, error) {
	q := store.CVEQuery{Limit: limit, Offset: offset}
	rows, err := s.pool.Query(ctx, `SELECT id, topic, key, value, headers, reason, created_at FROM dead_letters
		ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2`, q.PageLimit(), q.PageOffset())
	if err != nil {
		return nil, fmt.Errorf("postgres store: list dead letters: %w", err)
	}
	out := []store.DeadLetter{}
	var dl store.DeadLetter
	var headers []byte
	_, err = pgx.ForEachRow(rows, []any{&dl.ID, &dl.Topic, &dl.Key, &dl.Value, &headers, &dl.Reason, &dl.CreatedAt}, func() error {
		d := dl
		d.CreatedAt = d.CreatedAt.UTC()
		if len(headers) > 0 {
			if err := json.Unmarshal(headers, &d.Headers); err != nil {
				return fmt.Errorf("decode headers of dead letter %d: %w", d.ID, err)
			}
		}
		out = append(out, d)
		dl = store.DeadLetter{}
		headers = nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list dead letters: %w", err)
	}
	return out, nil
}
