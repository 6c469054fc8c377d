// Package postgres implements store.Store on PostgreSQL (pgx v5), for fleets
// where several consumers write concurrently.
//
// The schema is migrated on Open (goose, embedded SQL, serialized across
// processes by a PostgreSQL advisory lock). CVE upserts are set-based: one
// INSERT … SELECT FROM unnest(…) ON CONFLICT per batch decides which records
// are new or newer, and child rows are streamed with COPY.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/kubeward/kubeward/internal/store"
)

// Backend is what (*Store).Backend returns.
const Backend = "postgres"

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a libpq URL or key=value string, see
// pgx), applies pending migrations and returns the store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: parse DSN: %w (expected e.g. postgres://user@host:5432/db)", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: create pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: connect to %s:%d/%s: %w (is the server up and the DSN right?)",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres store: migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres store: migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	// Out-of-order application: 00004 was reserved and shipped after 00005
	// and 00006, so a database from before it gets it on upgrade.
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("postgres store: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: apply migrations: %w", err)
	}
	for _, r := range results {
		slog.InfoContext(ctx, "store migration applied", "backend", Backend, "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres store: ping: %w", err)
	}
	return nil
}

// Backend returns "postgres".
func (s *Store) Backend() string { return Backend }

// Close closes all connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// text makes s storable in a PostgreSQL text column, which cannot hold NUL
// bytes or invalid UTF-8: NULs are dropped, invalid bytes become U+FFFD. The
// record's raw JSON is stored as bytes and keeps them.
func text(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// texts applies text to each element and never returns nil (for NOT NULL
// array columns).
func texts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return out
}

// ts converts a time to a nullable timestamptz: the zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t.UTC().Truncate(store.TimePrecision), Valid: true}
}

// fromTS converts a nullable timestamptz back; NULL is the zero time.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// nilIfEmpty returns nil for an empty slice, so records read back compare
// equal to records built without the list.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// rollback ends tx when it was not committed.
func rollback(ctx context.Context, tx pgx.Tx) {
	if err := tx.Rollback(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		slog.WarnContext(ctx, "store rollback failed", "backend", Backend, "err", err)
	}
}
