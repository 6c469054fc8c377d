package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartSettingsAndStop(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, tc := range []struct{ setting, want string }{
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		{"listen_addresses", "127.0.0.1"},
		{"server_encoding", "UTF8"},
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", tc.setting).Scan(&got); err != nil {
			t.Fatalf("read %s: %v", tc.setting, err)
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.setting, got, tc.want)
		}
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatalf("close connection: %v", err)
	}

	dir := s.dir
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("server directory %s still exists after Stop (stat err %v)", dir, err)
	}
	if _, err := pgx.Connect(ctx, s.DSN("postgres")); err == nil {
		t.Errorf("server still accepts connections after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestNewDatabaseIsFreshAndIsolated(t *testing.T) {
	s := Shared(t)
	if Shared(t) != s {
		t.Fatal("Shared returned a different server on the second call")
	}
	ctx := context.Background()
	dsnA, dsnB := s.NewDatabase(t), s.NewDatabase(t)
	if dsnA == dsnB {
		t.Fatalf("two databases share a DSN: %s", dsnA)
	}
	a, err := pgx.Connect(ctx, dsnA)
	if err != nil {
		t.Fatalf("connect A: %v", err)
	}
	defer func() { _ = a.Close(ctx) }()
	if _, err := a.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatalf("create table in A: %v", err)
	}
	b, err := pgx.Connect(ctx, dsnB)
	if err != nil {
		t.Fatalf("connect B: %v", err)
	}
	defer func() { _ = b.Close(ctx) }()
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatalf("count tables in B: %v", err)
	}
	if n != 0 {
		t.Errorf("fresh database B has %d tables, want 0", n)
	}
}

func TestStartReportsMissingBinaries(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(BinDirEnv, dir)
	s, err := start()
	if err == nil {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		t.Fatalf("start with %s=%s (empty) succeeded", BinDirEnv, dir)
	}
	if !strings.Contains(err.Error(), BinDirEnv) {
		t.Errorf("error %q does not name %s", err, BinDirEnv)
	}
}
