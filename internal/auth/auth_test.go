package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// cheap are argon2id parameters that keep tests fast; the defaults are
// measured by BenchmarkHashPassword.
var cheap = auth.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

func newService(t testing.TB, st auth.Store, clk *clock) *auth.Service {
	t.Helper()
	svc, err := auth.NewService(context.Background(), st, auth.Config{Password: cheap, Now: clk.Now})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

const pw = "correct horse battery"

func setup(t *testing.T) (*auth.Service, *clock, auth.Store) {
	t.Helper()
	clk := &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	st := openStore(t)
	svc := newService(t, st, clk)
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"alice", auth.RoleAdmin}, {"oscar", auth.RoleOperator}, {"vera", auth.RoleViewer}} {
		if _, err := svc.CreateUser(context.Background(), u.name, pw, u.role); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.name, err)
		}
	}
	return svc, clk, st
}

func TestPasswordHashing(t *testing.T) {
	hash, err := auth.HashPassword(pw, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the given parameters", hash)
	}
	other, _ := auth.HashPassword(pw, cheap)
	if other == hash {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		name, pw, hash string
		ok             bool
		err            bool
	}{
		{"right", pw, hash, true, false},
		{"wrong", pw + "!", hash, false, false},
		{"empty", "", hash, false, false},
		{"not phc", pw, "plaintext", false, true},
		{"bcrypt", pw, "$2a$10$abcdefghijklmnopqrstuv", false, true},
		{"bad version", pw, strings.Replace(hash, "v=19", "v=16", 1), false, true},
		{"huge memory", pw, strings.Replace(hash, "m=64", "m=99999999", 1), false, true},
		{"zero time", pw, strings.Replace(hash, "t=1", "t=0", 1), false, true},
		{"bad salt", pw, strings.Replace(hash, "$m=64,t=1,p=1$", "$m=64,t=1,p=1$!!", 1), false, true},
	} {
		ok, err := auth.VerifyPassword(tc.pw, tc.hash)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%s: VerifyPassword = %v, %v; want %v, error %v", tc.name, ok, err, tc.ok, tc.err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"elevenchars", false},
		{"twelve chars", true},
		{"ünïcödé pässwörd", true},
		{strings.Repeat("x", auth.MaxPasswordLen+1), false},
		{"bad utf8 \xff\xfe xxxxx", false},
	} {
		if err := auth.CheckPassword(tc.pw); (err == nil) != tc.ok || (err != nil && !errors.Is(err, auth.ErrInvalid)) {
			t.Errorf("CheckPassword(%.20q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want auth.Role
		ok   bool
	}{
		{"viewer", auth.RoleViewer, true}, {"operator", auth.RoleOperator, true}, {"admin", auth.RoleAdmin, true},
		{"anonymous", 0, false}, {"Admin", 0, false}, {"", 0, false}, {"root", 0, false},
	} {
		got, err := auth.ParseRole(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRole(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCreateUserValidation(t *testing.T) {
	svc, _, _ := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, user, pw string
		role           auth.Role
		want           error
	}{
		{"upper case", "Bob", pw, auth.RoleViewer, auth.ErrInvalid},
		{"space", "bo b", pw, auth.RoleViewer, auth.ErrInvalid},
		{"empty", "", pw, auth.RoleViewer, auth.ErrInvalid},
		{"weak password", "bob", "short", auth.RoleViewer, auth.ErrInvalid},
		{"anonymous role", "bob", pw, auth.RoleAnonymous, auth.ErrInvalid},
		{"duplicate", "alice", pw, auth.RoleViewer, auth.ErrConflict},
	} {
		if _, err := svc.CreateUser(ctx, tc.user, tc.pw, tc.role); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateUser = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestLoginAndAuthenticate(t *testing.T) {
	svc, _, _ := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		user string
		role auth.Role
	}{{"alice", auth.RoleAdmin}, {"oscar", auth.RoleOperator}, {"vera", auth.RoleViewer}} {
		pair, err := svc.Login(ctx, tc.user, pw, "192.0.2.1:1234")
		if err != nil {
			t.Fatalf("Login(%s): %v", tc.user, err)
		}
		p, err := svc.Authenticate(ctx, pair.AccessToken)
		if err != nil {
			t.Fatalf("Authenticate(%s access token): %v", tc.user, err)
		}
		if p.Name != tc.user || p.Role != tc.role || p.Kind != auth.KindUser || p.TokenID == "" {
			t.Errorf("principal = %+v, want %s with role %s", p, tc.user, tc.role)
		}
		if _, err := svc.Authenticate(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("a refresh token was accepted as an access token: %v", err)
		}
	}
	for _, tc := range []struct{ user, pw string }{{"alice", "wrong password!"}, {"nobody", pw}, {"alice", ""}} {
		if _, err := svc.Login(ctx, tc.user, tc.pw, "192.0.2.2:1"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Login(%s, %q) = %v, want ErrUnauthenticated", tc.user, tc.pw, err)
		}
	}
}

func TestTokensRefused(t *testing.T) {
	svc, clk, st := setup(t)
	ctx := context.Background()
	pair, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(pair.AccessToken, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	// A service with another key, as if the store's key had been replaced.
	otherSvc := newService(t, openStore(t), clk)
	if _, err := otherSvc.CreateUser(ctx, "vera", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	foreign, err := otherSvc.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, token string }{
		{"tampered payload", parts[0] + "." + flip(parts[1]) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2])},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."},
		{"signed by another key", foreign.AccessToken},
		{"empty", ""},
		{"garbage", "not.a.jwt"},
		{"unknown api token", auth.APITokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"huge", strings.Repeat("a", 10000)},
	} {
		if _, err := svc.Authenticate(ctx, tc.token); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: Authenticate = %v, want ErrUnauthenticated", tc.name, err)
		}
	}

	// Revoked: logout revokes the access and the refresh token.
	p, err := svc.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Logout(ctx, p, pair.RefreshToken); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := svc.Authenticate(ctx, pair.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked access token accepted: %v", err)
	}
	if _, err := svc.Refresh(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked refresh token accepted: %v", err)
	}

	// Expired: a fresh token is refused once the clock passes its expiry,
	// and the deny-list entry of the revoked one can then be purged.
	fresh, err := svc.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(16 * time.Minute)
	if _, err := svc.Authenticate(ctx, fresh.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("expired access token accepted: %v", err)
	}
	if n, err := svc.PurgeRevoked(ctx); err != nil || n != 1 {
		t.Errorf("PurgeRevoked = %d, %v; want the revoked access token's entry", n, err)
	}
	clk.Advance(24 * time.Hour)
	if _, err := svc.Refresh(ctx, fresh.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("expired refresh token accepted: %v", err)
	}
	_ = st
}

func TestRefreshRotates(t *testing.T) {
	svc, _, st := setup(t)
	ctx := context.Background()
	pair, err := svc.Login(ctx, "oscar", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	next, err := svc.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if next.AccessToken == pair.AccessToken || next.RefreshToken == pair.RefreshToken {
		t.Error("Refresh returned the same tokens")
	}
	if _, err := svc.Refresh(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a used refresh token was accepted again: %v", err)
	}
	if _, err := svc.Refresh(ctx, next.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("an access token was accepted as a refresh token: %v", err)
	}
	p, err := svc.Authenticate(ctx, next.AccessToken)
	if err != nil || p.Name != "oscar" || p.Role != auth.RoleOperator {
		t.Errorf("refreshed access token: %+v, %v", p, err)
	}
	_ = st
}

func TestLoginThrottling(t *testing.T) {
	svc, clk, _ := setup(t)
	ctx := context.Background()
	// Per user: 5 failures lock the account, even from many addresses.
	for i := range 5 {
		if _, err := svc.Login(ctx, "vera", "wrong password!", "192.0.2."+string(rune('1'+i))+":1"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	_, err := svc.Login(ctx, "vera", pw, "198.51.100.9:1")
	var te *auth.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, auth.ErrThrottled) || te.RetryAfter <= 0 {
		t.Fatalf("login after 5 failures = %v, want a ThrottledError", err)
	}
	if _, err := svc.Login(ctx, "oscar", pw, "198.51.100.9:1"); err != nil {
		t.Errorf("another user was throttled too: %v", err)
	}
	clk.Advance(15 * time.Minute)
	if _, err := svc.Login(ctx, "vera", pw, "198.51.100.9:1"); err != nil {
		t.Errorf("login after the window passed: %v", err)
	}

	// Per address: 20 failures from one /64 lock it for every user name.
	for i := range 20 {
		name := []string{"alice", "nobody", "oscar", "x"}[i%4]
		if _, err := svc.Login(ctx, name, "wrong password!", "[2001:db8::"+string(rune('a'+i%6))+"]:443"); !errors.Is(err, auth.ErrUnauthenticated) && !errors.Is(err, auth.ErrThrottled) {
			t.Fatalf("address failure %d: %v", i, err)
		}
	}
	clk.Advance(15*time.Minute - time.Second)
	if _, err := svc.Login(ctx, "newname", pw, "[2001:db8::ffff]:1"); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("login from the same /64 after 20 failures = %v, want ErrThrottled", err)
	}
	if _, err := svc.Login(ctx, "vera", pw, "[2001:db9::1]:1"); err != nil {
		t.Errorf("another address was throttled: %v", err)
	}
}

func TestMemoryThrottle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	th := auth.NewMemoryThrottle(auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute, MaxKeys: 2})
	check := func(key string, at time.Time) time.Duration {
		t.Helper()
		d, err := th.Check(ctx, key, at)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := range 3 {
		_ = th.Fail(ctx, "a", t0.Add(time.Duration(i)*time.Second))
	}
	for _, tc := range []struct {
		key  string
		at   time.Duration
		want time.Duration
	}{
		{"a", 3 * time.Second, 57 * time.Second}, // locked until the first failure is a minute old
		{"a", 60 * time.Second, 0},
		{"b", 0, 0},
	} {
		if got := check(tc.key, t0.Add(tc.at)); got != tc.want {
			t.Errorf("Check(%s, +%s) = %s, want %s", tc.key, tc.at, got, tc.want)
		}
	}
	_ = th.Reset(ctx, "a")
	if got := check("a", t0.Add(4*time.Second)); got != 0 {
		t.Errorf("Check after Reset = %s, want 0", got)
	}
	// Bounded: a third key evicts one of two, never grows the table.
	for _, k := range []string{"x", "y", "z"} {
		for range 3 {
			_ = th.Fail(ctx, k, t0)
		}
	}
	locked := 0
	for _, k := range []string{"x", "y", "z"} {
		if check(k, t0) > 0 {
			locked++
		}
	}
	if locked != 2 {
		t.Errorf("%d keys tracked, want MaxKeys=2", locked)
	}
}

func TestAPITokens(t *testing.T) {
	svc, clk, _ := setup(t)
	ctx := context.Background()
	oscar := auth.Principal{Name: "oscar", Role: auth.RoleOperator, Kind: auth.KindUser}
	alice := auth.Principal{Name: "alice", Role: auth.RoleAdmin, Kind: auth.KindUser}
	secret, tok, err := svc.CreateAPIToken(ctx, oscar, "ci", auth.RoleViewer, time.Hour)
	if err != nil {
		t.Fatalf("CreateAPIToken: %v", err)
	}
	if !strings.HasPrefix(secret, auth.APITokenPrefix) || len(secret) < 40 {
		t.Errorf("secret %q: want %s and 32 random bytes", secret, auth.APITokenPrefix)
	}
	p, err := svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate(API token): %v", err)
	}
	if p.Name != "oscar" || p.Role != auth.RoleViewer || p.Kind != auth.KindToken || p.TokenID != tok.ID || p.Actor() != "token:"+tok.ID {
		t.Errorf("principal = %+v", p)
	}
	if _, _, err := svc.CreateAPIToken(ctx, oscar, "escalate", auth.RoleAdmin, 0); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("operator created an admin token: %v", err)
	}
	if _, _, err := svc.CreateAPIToken(ctx, oscar, " ", auth.RoleViewer, 0); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("token without a name: %v", err)
	}
	forever, adminTok, err := svc.CreateAPIToken(ctx, alice, "deploy", auth.RoleAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := svc.ListAPITokens(ctx, oscar)
	if err != nil || len(mine) != 1 || mine[0].ID != tok.ID {
		t.Errorf("operator's list = %+v, %v; want only the operator's token", mine, err)
	}
	all, err := svc.ListAPITokens(ctx, alice)
	if err != nil || len(all) != 2 {
		t.Errorf("admin's list = %d tokens, %v; want 2", len(all), err)
	}
	if err := svc.DeleteAPIToken(ctx, oscar, adminTok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("operator deleted the admin's token: %v", err)
	}
	clk.Advance(time.Hour)
	if _, err := svc.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("expired API token accepted: %v", err)
	}
	if _, err := svc.Authenticate(ctx, forever); err != nil {
		t.Errorf("non-expiring token refused: %v", err)
	}
	if err := svc.DeleteAPIToken(ctx, alice, adminTok.ID); err != nil {
		t.Fatalf("DeleteAPIToken: %v", err)
	}
	if _, err := svc.Authenticate(ctx, forever); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("deleted API token accepted: %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Now()}
	t.Run("generated", func(t *testing.T) {
		svc := newService(t, openStore(t), clk)
		password, created, err := svc.Bootstrap(ctx, "admin", "")
		if err != nil || !created || len(password) < 24 {
			t.Fatalf("Bootstrap = %q, %v, %v; want a generated password", password, created, err)
		}
		if _, err := svc.Login(ctx, "admin", password, "127.0.0.1:1"); err != nil {
			t.Errorf("login with the bootstrap password: %v", err)
		}
		again, created, err := svc.Bootstrap(ctx, "admin", "")
		if err != nil || created || again != "" {
			t.Errorf("second Bootstrap = %q, %v, %v; want nothing done", again, created, err)
		}
	})
	t.Run("from file", func(t *testing.T) {
		svc := newService(t, openStore(t), clk)
		file := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(file, []byte("from a file secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		password, created, err := svc.Bootstrap(ctx, "root", file)
		if err != nil || !created || password != "" {
			t.Fatalf("Bootstrap = %q, %v, %v; want created, no password echoed", password, created, err)
		}
		if _, err := svc.Login(ctx, "root", "from a file secret", "127.0.0.1:1"); err != nil {
			t.Errorf("login with the file's password: %v", err)
		}
	})
	t.Run("weak file password", func(t *testing.T) {
		svc := newService(t, openStore(t), clk)
		file := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Bootstrap(ctx, "root", file); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("Bootstrap with a weak password = %v, want ErrInvalid", err)
		}
		if _, _, err := svc.Bootstrap(ctx, "root", filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Error("Bootstrap with a missing password file succeeded")
		}
	})
}

func TestSigningKeyPersists(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Now()}
	st := openStore(t)
	a := newService(t, st, clk)
	if _, err := a.CreateUser(ctx, "vera", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	pair, err := a.Login(ctx, "vera", pw, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	b := newService(t, st, clk) // a restart, or a second replica
	if _, err := b.Authenticate(ctx, pair.AccessToken); err != nil {
		t.Errorf("a token from before the restart was refused: %v", err)
	}
}

func TestAudit(t *testing.T) {
	svc, _, _ := setup(t)
	ctx := context.Background()
	for _, e := range []auth.AuditEntry{
		{Actor: "alice", Action: "POST /api/v1/users", Target: "/api/v1/users", Status: 201, Source: "127.0.0.1:1"},
		{Actor: "vera", Action: "POST /api/v1/auth/logout", Target: "/api/v1/auth/logout", Status: 204, Source: "127.0.0.1:2"},
	} {
		if err := svc.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	es, total, err := svc.AuditLog(ctx, auth.AuditQuery{Actor: "alice", Limit: 10})
	if err != nil || total != 1 || len(es) != 1 || es[0].Status != 201 || es[0].Time.IsZero() {
		t.Errorf("AuditLog(alice) = %+v, %d, %v", es, total, err)
	}
}

// brokenThrottle fails every call, as a shared throttle whose server is
// down would.
type brokenThrottle struct{}

var errThrottleDown = errors.New("throttle backend down")

func (brokenThrottle) Check(context.Context, string, time.Time) (time.Duration, error) {
	return 0, errThrottleDown
}
func (brokenThrottle) Fail(context.Context, string, time.Time) error { return errThrottleDown }
func (brokenThrottle) Reset(context.Context, string) error           { return errThrottleDown }

func TestLoginRefusedWhenThrottleFails(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	svc, err := auth.NewService(ctx, st, auth.Config{Password: cheap, AddrThrottle: brokenThrottle{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, "vera", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Login(ctx, "vera", pw, "127.0.0.1:1")
	if !errors.Is(err, errThrottleDown) || errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Login with a failing throttle = %v, want the throttle's error (fail closed)", err)
	}
}
