package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollDeadline bounds how long a test waits for an asynchronous outcome
// (readiness, a scan finishing, an alert or a bus message arriving). It is
// a generous safety net against a hung test, not a timing assertion.
const pollDeadline = 2 * time.Minute

// pollUntil calls cond every few milliseconds until it reports done, and
// fails the test when it returns an error or pollDeadline passes; what
// describes what is awaited.
func pollUntil(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pollDeadline)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		done, err := cond()
		if done {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s (last error: %v)", what, pollDeadline, last)
		case <-tick.C:
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// servedKubeward is `kubeward serve` running in-process on a loopback
// port.
type servedKubeward struct {
	// URL is the base URL, http://127.0.0.1:PORT.
	URL    string
	stderr *lockedBuffer
	cancel context.CancelFunc
	// exited is closed once Execute returned code.
	exited chan struct{}
	code   int
}

// runServeIn runs `kubeward GLOBAL... serve --listen ADDR SERVE...` in the
// background.
func runServeIn(addr string, global []string, serve ...string) (*servedKubeward, []string) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedKubeward{URL: "http://" + addr, stderr: &lockedBuffer{}, cancel: cancel, exited: make(chan struct{})}
	args := append(append(append([]string{}, global...), "serve", "--listen", addr), serve...)
	go func() {
		s.code = Execute(ctx, args, io.Discard, s.stderr)
		close(s.exited)
	}()
	return s, args
}

// ready probes /readyz once. The probe is abandoned when serve exits, so
// a listener serve opened but never served (a refused start) cannot
// block it.
func (s *servedKubeward) ready() (bool, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, fmt.Errorf("/readyz answered %d", resp.StatusCode)
}

// hasExited reports whether Execute returned.
func (s *servedKubeward) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// startServe runs `kubeward GLOBAL... serve --listen ADDR SERVE...` and
// waits until /readyz answers 200; it fails the test when serve exits
// first. The server is stopped at the end of the test, which fails unless
// it exits 0.
func startServe(t *testing.T, global []string, serve ...string) *servedKubeward {
	t.Helper()
	return startServeAt(t, freeAddr(t), global, serve...)
}

// startServeAt is startServe listening on addr, for flags that must name
// the server's own URL.
func startServeAt(t *testing.T, addr string, global []string, serve ...string) *servedKubeward {
	t.Helper()
	s, args := runServeIn(addr, global, serve...)
	t.Cleanup(func() {
		if code := s.stop(); code != ExitOK {
			t.Errorf("serve exited %d after a graceful stop: %s", code, s.stderr.String())
		}
	})
	pollUntil(t, "serve ready", func() (bool, error) {
		if s.hasExited() {
			t.Fatalf("kubeward %s exited %d before it was ready: %s", strings.Join(args, " "), s.code, s.stderr.String())
		}
		return s.ready()
	})
	return s
}

// stop cancels serve's context and returns its exit code.
func (s *servedKubeward) stop() int {
	s.cancel()
	<-s.exited
	return s.code
}

// adminPasswordFile writes a password file for --admin-password-file and
// returns its path and the password.
func adminPasswordFile(t *testing.T) (string, string) {
	t.Helper()
	const password = "correct-horse-battery-staple"
	f := filepath.Join(t.TempDir(), "admin-password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, password
}

// login logs user in and returns the access token.
func (s *servedKubeward) login(t *testing.T, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := http.Post(s.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("login as %s: %d %v", user, resp.StatusCode, err)
	}
	return tok.AccessToken
}

// do sends an authenticated request and returns the status, headers and
// body of the answer.
func (s *servedKubeward) do(t *testing.T, token, method, path, contentType string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// serveRefused runs `kubeward GLOBAL... serve --listen ADDR SERVE...`,
// expecting it to refuse to start, and returns its exit code and stderr.
// A serve that becomes ready instead is stopped and fails the test.
func serveRefused(t *testing.T, global []string, serve ...string) (int, string) {
	t.Helper()
	s, args := runServeIn(freeAddr(t), global, serve...)
	pollUntil(t, "serve refusing to start", func() (bool, error) {
		if s.hasExited() {
			return true, nil
		}
		ok, err := s.ready()
		if ok {
			code := s.stop()
			t.Fatalf("kubeward %s started; want it refused (stopped: exit %d)", strings.Join(args, " "), code)
		}
		return false, err
	})
	return s.code, s.stderr.String()
}
