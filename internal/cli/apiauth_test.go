package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kubeward/kubeward/internal/auth/oidclogin/fakeidp"
	"github.com/kubeward/kubeward/internal/redistest"
)

// TestServeWithRedisAndOIDC starts `kubeward serve` with --redis-url and
// the --oidc-* flags against a real redis-server and an in-process OIDC
// provider: the login throttle counts in Redis and the OIDC login
// redirects to the provider.
func TestServeWithRedisAndOIDC(t *testing.T) {
	rs := redistest.Start(t)
	idp := fakeidp.Start(t, "kubeward", "s3cret")
	dir := t.TempDir()
	secretFile, pwFile := filepath.Join(dir, "oidc-secret"), filepath.Join(dir, "admin-password")
	const password = "correct-horse-battery-staple"
	for f, v := range map[string]string{secretFile: "s3cret\n", pwFile: password + "\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startServeAt(t, addr, []string{"--db", "sqlite://" + filepath.Join(dir, "k.db"), "--log-level", "warn"},
		"--admin-password-file", pwFile, "--redis-url", rs.URL,
		"--oidc-issuer", idp.URL, "--oidc-client-id", "kubeward", "--oidc-client-secret-file", secretFile,
		"--oidc-redirect-url", base+"/api/v1/auth/oidc/callback", "--oidc-viewer-groups", "staff")

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/api/v1/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, idp.URL+"/auth?") {
		t.Errorf("GET /api/v1/auth/oidc/login: %d to %q, want a redirect to the provider", resp.StatusCode, loc)
	}

	resp, err = http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"not the password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: %d, want 401", resp.StatusCode)
	}
	opts, err := redis.ParseURL(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if n, err := rdb.ZCard(ctx, "kubeward:auth:throttle:user:admin").Result(); err != nil || n != 1 {
		t.Errorf("failed logins of admin counted in Redis: %d, %v; want 1", n, err)
	}
	if code := s.stop(); code != ExitOK {
		t.Fatalf("serve exited %d after a graceful stop", code)
	}
}

func TestServeRefusesBadAuthFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unparsable Redis URL", []string{"--redis-url", "http://nope"}, "--redis-url"},
		{"unreachable Redis", []string{"--redis-url", "redis://" + freeAddr(t)}, "connect to Redis"},
		{"OIDC client without an issuer", []string{"--oidc-client-id", "kubeward"}, "need --oidc-issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--db", "sqlite://" + filepath.Join(t.TempDir(), "k.db"), "--log-level", "error", "serve", "--listen", freeAddr(t)}, tc.args...)
			var errOut bytes.Buffer
			if code := Execute(context.Background(), args, io.Discard, &errOut); code == ExitOK || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("serve %v exited %d saying %q; want an error mentioning %q", tc.args, code, errOut.String(), tc.want)
			}
		})
	}
}
