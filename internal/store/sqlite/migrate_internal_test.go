package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

// TestUpgradeAppliesReservedMigration opens a database migrated by a
// release that shipped migrations 00001–00003, 00005 and 00006 (00004 was
// reserved and shipped later) and checks that Open applies the late 00004
// and everything after it instead of refusing the database.
func TestUpgradeAppliesReservedMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if name >= "00007" || strings.HasPrefix(name, "00004") {
			continue
		}
		b, err := fs.ReadFile(migrations, "migrations/"+name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, old, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("old release's migrations: %v", err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a database from the previous release: %v", err)
	}
	defer s.Close()
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'scans'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("migration 00004 (scans table) was not applied on upgrade")
	}
	var v int64
	if err := s.r.QueryRowContext(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	last, _ := fs.Glob(migrations, "migrations/*.sql")
	want, err := strconv.ParseInt(filepath.Base(last[len(last)-1])[:5], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if v != want {
		t.Fatalf("schema version %d after upgrade, want the latest (%d)", v, want)
	}
}
