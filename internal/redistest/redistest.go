// Package redistest starts a throwaway redis-server for tests: on
// 127.0.0.1, a free port, a temporary directory, no persistence. A test
// that asks for one fails when it cannot start — it never skips — so a CI
// machine without Redis is noticed (scripts/test-deps.sh installs the
// Debian package redis-server).
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names the environment variable that overrides the
// redis-server binary.
const BinaryEnv = "KUBEWARD_REDIS_SERVER"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 20 * time.Second

// Server is a running redis-server.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string
	// URL is "redis://127.0.0.1:port/0", as --redis-url takes it.
	URL string
}

// Binary returns the redis-server to run: $KUBEWARD_REDIS_SERVER, else
// redis-server on $PATH, else /usr/bin/redis-server.
func Binary() (string, error) {
	if b := os.Getenv(BinaryEnv); b != "" {
		return b, nil
	}
	if b, err := exec.LookPath("redis-server"); err == nil {
		return b, nil
	}
	const debian = "/usr/bin/redis-server"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("redis-server not found on $PATH nor at %s (install the Debian package redis-server, run scripts/test-deps.sh, or set %s): %w", debian, BinaryEnv, err)
	}
	return debian, nil
}

// Start starts a redis-server for t and stops it when t ends. It fails t
// when the server cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	var lastErr error
	// A port found free may be taken before the server binds it; try again.
	for range 3 {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("create the data directory: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var logs bytes.Buffer
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "yes",
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	)
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	// exited is closed when the server has exited; waitErr says how.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	if err := waitReady(addr, exited, &waitErr); err != nil {
		stop()
		return nil, fmt.Errorf("%s on %s did not start: %w; its output:\n%s", bin, addr, err, logs.String())
	}
	t.Cleanup(stop)
	return &Server{Addr: addr, URL: "redis://" + addr + "/0"}, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits until the server answers PING, or exits (closing
// exited, with *waitErr set), or startTimeout passes.
func waitReady(addr string, exited <-chan struct{}, waitErr *error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-exited:
			return fmt.Errorf("it exited: %v", *waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no answer to PING within %s: %w", startTimeout, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
		if lastErr = ping(ctx, addr); lastErr == nil {
			return nil
		}
	}
}

func ping(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("PING answered " + strconv.Quote(line))
	}
	return nil
}
