// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go), kubeward's zero-dependency default.
//
// The database runs in WAL mode with one writer connection, so writes are
// serialized inside the process and never fail with SQLITE_BUSY between
// themselves, and a pool of read-only connections that read concurrently with
// the writer. The schema is migrated on Open (goose, embedded SQL). Full-text
// search uses FTS5.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/kubeward/kubeward/internal/store"
)

// Backend is what (*Store).Backend returns.
const Backend = "sqlite"

// busyTimeout is how long a connection waits for a lock held by another
// process (another kubeward on the same file, a backup) before failing.
const busyTimeout = 10 * time.Second

// timeLayout is how times are stored: fixed-width UTC, so that text order is
// time order, at store.TimePrecision.
const timeLayout = "2006-01-02T15:04:05.000000Z"

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // exactly one connection: all writes
	r    *sql.DB // read-only connections
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies pending
// migrations and returns the store. path must name a file; in-memory
// databases are not supported because the writer and the readers use
// separate connections.
func Open(ctx context.Context, path string) (*Store, error) {
	switch {
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlite store: %q: give the path of a database file (it is created when missing)", path)
	case strings.ContainsRune(path, '?'):
		return nil, fmt.Errorf("sqlite store: %q: the path must not contain '?'", path)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", path+"?"+common+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-65536)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w (is the directory writable?)", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %s for reading: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite store: open %s for reading: %w", path, err)
	}
	return &Store{path: path, w: w, r: r}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Out-of-order application: 00004 was reserved and shipped after 00005
	// and 00006, so a database from before it gets it on upgrade.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		slog.InfoContext(ctx, "store migration applied", "backend", Backend, "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite store: ping %s: %w", s.path, err)
	}
	return nil
}

// Backend returns "sqlite".
func (s *Store) Backend() string { return Backend }

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// fmtTime converts a time to its stored form; the zero time is NULL.
func fmtTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: t.UTC().Truncate(store.TimePrecision).Format(timeLayout), Valid: true}
}

// parseTime converts a stored time back; NULL is the zero time.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s.String, err)
	}
	return t, nil
}

// rollback ends tx when it was not committed.
func rollback(ctx context.Context, tx *sql.Tx) {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		slog.WarnContext(ctx, "store rollback failed", "backend", Backend, "err", err)
	}
}
