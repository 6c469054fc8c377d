// Package pgtest starts throwaway PostgreSQL servers for tests.
//
// It runs the binaries of the Debian "postgresql" package (found under
// /usr/lib/postgresql/<version>/bin, or in PGTEST_BINDIR when set): initdb into
// a temporary directory, then postgres listening only on 127.0.0.1 on a free
// port with durability switched off (fsync, synchronous_commit and
// full_page_writes), which is what tests want. When the test runs as root the
// server runs as the "postgres" OS user, because PostgreSQL refuses to run as
// root.
//
// A server that cannot start fails the test with the reason; it never skips.
//
// Typical use, one server per test binary and one database per test:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Shared(t).NewDatabase(t)
//		...
//	}
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDirEnv names the environment variable that overrides where the
// PostgreSQL server binaries (initdb, postgres) are looked up.
const BinDirEnv = "PGTEST_BINDIR"

// startTimeout bounds how long a server may take to accept connections. It is
// a safety net against a hung server, not a performance assertion.
const startTimeout = 60 * time.Second

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Host and Port are where the server listens (Host is 127.0.0.1).
	Host string
	Port int
	// User is the superuser name (trust authentication, no password).
	User string

	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	dbSeq   atomic.Int64
	stop    sync.Once
	stopErr error
}

// Start starts a new server for tb and stops it when tb's cleanup runs. It
// fails tb when the server cannot start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the test binary's shared server, starting it on first use.
// Stop it from TestMain with Main or StopShared. It fails tb when the server
// cannot start.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() { shared.srv, shared.err = start() })
	if shared.err != nil {
		tb.Fatalf("pgtest: shared server: %v", shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server if it was started. Call it from
// TestMain after m.Run.
func StopShared() error {
	if shared.srv == nil {
		return nil
	}
	return shared.srv.Stop()
}

// Main runs the tests of m and then stops the shared server. Use it as the
// body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// DSN returns a connection string for database name on the server.
func (s *Server) DSN(database string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", s.User, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), database)
}

// NewDatabase creates a fresh empty database, drops it when tb's cleanup
// runs, and returns its DSN. It fails tb when the database cannot be created.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 STRATEGY FILE_COPY"); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	// The statement's outcome is known by then; closing an admin connection
	// cannot change it.
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down (fast shutdown) and removes its directory. It is
// safe to call more than once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		var errs []error
		if s.cmd != nil && s.cmd.Process != nil {
			select {
			case <-s.exited:
			default:
				// SIGINT is PostgreSQL's "fast shutdown": abort sessions, exit cleanly.
				_ = s.cmd.Process.Signal(syscall.SIGINT)
				select {
				case <-s.exited:
				case <-time.After(startTimeout):
					_ = s.cmd.Process.Kill()
					<-s.exited
					errs = append(errs, fmt.Errorf("server in %s did not shut down in %s; killed it", s.dir, startTimeout))
				}
			}
		}
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.dir, err))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// start creates and starts a server. Binding a free port races with other
// processes, so a failed start is retried on another port.
func start() (*Server, error) {
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("give %s to the postgres user: %w", dir, err)
		}
	}
	dataDir := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(binDir, "initdb"),
		"-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	initdb.Dir = dir
	initdb.Env = serverEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb in %s: %w\n%s", dataDir, err, out)
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(binDir, dir, dataDir, cred)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func launch(binDir, dir, dataDir string, cred *syscall.Credential) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("postgres-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	// The child holds its own descriptor; the parent's copy is never written.
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(filepath.Join(binDir, "postgres"),
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning",
	)
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group: a Ctrl-C aimed at `go test` must not reach the
	// server before cleanup asks it to stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{Host: "127.0.0.1", Port: port, User: "postgres", dir: dir, cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() { _ = cmd.Wait(); close(s.exited) }()

	if err := s.waitReady(); err != nil {
		_ = cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("postgres on port %d: %w\nserver log:\n%s", port, err, tail(logPath))
	}
	return s, nil
}

func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited while starting (%v)", s.cmd.ProcessState)
		default:
		}
		connCtx, connCancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(connCtx, s.DSN("postgres"))
		connCancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections after %s: %w", startTimeout, err)
		case <-s.exited:
			return fmt.Errorf("server exited while starting (%v)", s.cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findBinDir returns the directory holding initdb and postgres: BinDirEnv
// when set, else the newest /usr/lib/postgresql/<version>/bin.
func findBinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("%s=%s has no postgres binary: %w", BinDirEnv, dir, err)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var usable []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			usable = append(usable, d)
		}
	}
	if len(usable) == 0 {
		return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install the Debian postgresql package (apt-get install postgresql) or set %s", BinDirEnv)
	}
	sort.Slice(usable, func(i, j int) bool { return versionOf(usable[i]) > versionOf(usable[j]) })
	return usable[0], nil
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// serverCredential returns the credential to run the server with: nil when
// not root, the postgres user's when root.
func serverCredential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, PostgreSQL must run as the postgres OS user, which was not found (%w): install the Debian postgresql package or run tests as a non-root user", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("postgres user uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("postgres user gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// serverEnv is a minimal environment for the server: no PG* variables of the
// caller leak into it, and the locale is fixed.
func serverEnv() []string {
	env := []string{"LC_ALL=C", "LANG=C"}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	return env
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer func() { _ = l.Close() }() // only probed for its port
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of the file at path, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(bytes.ToValidUTF8(b, []byte("?"))))
}
