package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/redistest"
)

// redisClient connects to a fresh redis-server started for t.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping %s: %v", srv.Addr, err)
	}
	return rdb
}

// TestThrottles runs one behaviour table against the in-memory and the
// Redis throttle: they must agree.
func TestThrottles(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := auth.ThrottleConfig{MaxFailures: 3, Window: time.Minute}
	rdb := redisClient(t)
	for name, th := range map[string]auth.Throttle{
		"memory": auth.NewMemoryThrottle(cfg),
		"redis":  auth.NewRedisThrottle(rdb, "test:throttle:", cfg),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			check := func(key string, at time.Time) time.Duration {
				t.Helper()
				d, err := th.Check(ctx, key, at)
				if err != nil {
					t.Fatalf("Check(%s): %v", key, err)
				}
				return d
			}
			// Four failures: only the newest three count.
			for i := range 4 {
				if err := th.Fail(ctx, "a", t0.Add(time.Duration(i)*time.Second)); err != nil {
					t.Fatalf("Fail: %v", err)
				}
			}
			for range 2 {
				if err := th.Fail(ctx, "b", t0); err != nil {
					t.Fatalf("Fail: %v", err)
				}
			}
			for _, tc := range []struct {
				key  string
				at   time.Duration
				want time.Duration
			}{
				{"a", 4 * time.Second, 57 * time.Second}, // until the failure at +1s is a minute old
				{"a", 61 * time.Second, 0},
				{"b", time.Second, 0}, // two failures are under the limit
				{"c", 0, 0},
			} {
				if got := check(tc.key, t0.Add(tc.at)); got != tc.want {
					t.Errorf("Check(%s, +%s) = %s, want %s", tc.key, tc.at, got, tc.want)
				}
			}
			if err := th.Fail(ctx, "b", t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			if got := check("b", t0.Add(3*time.Second)); got != 57*time.Second {
				t.Errorf("Check(b) after its third failure = %s, want 57s", got)
			}
			if err := th.Reset(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			if got := check("b", t0.Add(3*time.Second)); got != 0 {
				t.Errorf("Check(b) after Reset = %s, want 0", got)
			}
		})
	}
}

// replicas returns two services sharing one Redis for throttling and
// revocations but each with its own database (holding the same signing
// key), so that anything one learns from the other came through Redis.
func replicas(t *testing.T, clk *clock) (a, b *auth.Service, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	rdb = redisClient(t)
	key := []byte(strings.Repeat("k", 32))
	var svcs []*auth.Service
	for i := range 2 {
		st := openStore(t)
		if _, err := st.EnsureSigningKey(ctx, "jwt-hs256", key); err != nil {
			t.Fatal(err)
		}
		svc, err := auth.NewService(ctx, st, auth.Config{
			Password:          cheap,
			Now:               clk.Now,
			UserThrottle:      auth.NewRedisThrottle(rdb, auth.DefaultRedisPrefix+"user:", auth.ThrottleConfig{MaxFailures: 5, Window: 15 * time.Minute}),
			AddrThrottle:      auth.NewRedisThrottle(rdb, auth.DefaultRedisPrefix+"addr:", auth.ThrottleConfig{MaxFailures: 20, Window: 15 * time.Minute}),
			SharedRevocations: auth.NewRedisRevocations(rdb, auth.DefaultRedisPrefix, nil),
			// Only Redis announcements (or an explicit Sync) can tell a
			// replica about the other's revocations in these tests.
			RevocationRefresh: time.Hour,
		})
		if err != nil {
			t.Fatalf("NewService %d: %v", i, err)
		}
		for _, name := range []string{"vera", "oscar"} {
			if _, err := svc.CreateUser(ctx, name, pw, auth.RoleViewer); err != nil {
				t.Fatal(err)
			}
		}
		svcs = append(svcs, svc)
	}
	return svcs[0], svcs[1], rdb
}

func TestReplicasShareThrottle(t *testing.T) {
	clk := &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	a, b, _ := replicas(t, clk)
	ctx := context.Background()
	// Five failures spread over both replicas lock the user on both.
	for i := range 5 {
		svc := []*auth.Service{a, b}[i%2]
		if _, err := svc.Login(ctx, "vera", "wrong password!", fmt.Sprintf("192.0.2.%d:1", i+1)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	for i, svc := range []*auth.Service{a, b} {
		if _, err := svc.Login(ctx, "vera", pw, "198.51.100.9:1"); !errors.Is(err, auth.ErrThrottled) {
			t.Errorf("replica %d: login after 5 failures on two replicas = %v, want ErrThrottled", i, err)
		}
	}
	if _, err := b.Login(ctx, "oscar", pw, "198.51.100.9:1"); err != nil {
		t.Errorf("another user was throttled: %v", err)
	}
	// Twenty failures from one address, split over the replicas, lock it.
	for i := range 20 {
		svc := []*auth.Service{a, b}[i%2]
		if _, err := svc.Login(ctx, fmt.Sprintf("nobody%d", i), "wrong password!", "203.0.113.7:1"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("address failure %d: %v", i, err)
		}
	}
	if _, err := a.Login(ctx, "oscar", pw, "203.0.113.7:2"); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("login from an address with 20 failures = %v, want ErrThrottled", err)
	}
	clk.Advance(15 * time.Minute)
	for i, svc := range []*auth.Service{a, b} {
		if _, err := svc.Login(ctx, "vera", pw, "203.0.113.7:1"); err != nil {
			t.Errorf("replica %d: login after the window passed: %v", i, err)
		}
	}
}

// waitRefused polls until svc refuses token; revocations reach other
// replicas asynchronously (one pub/sub hop). The deadline only stops a
// broken build from hanging; no speed is asserted.
func waitRefused(t *testing.T, svc *auth.Service, token string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := svc.Authenticate(context.Background(), token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			return
		}
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the revoked token")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReplicasShareRevocations(t *testing.T) {
	clk := &clock{now: time.Now()}
	a, b, _ := replicas(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.SyncRevocations(ctx)
	go b.SyncRevocations(ctx)

	pair, err := a.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatalf("replica b refuses a token replica a issued: %v", err)
	}
	// Logging out on a refuses the access token on a at once and on b as
	// soon as the announcement arrives.
	if err := a.Logout(ctx, p, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, pair.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("replica a accepts its own revoked token: %v", err)
	}
	waitRefused(t, b, pair.AccessToken)
	// The refresh token was announced before the access token, on the
	// same connection, so b has it too.
	if _, err := b.Refresh(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("replica b accepted a refresh token revoked on a: %v", err)
	}

	// Ending a user's sessions (a deletion or a password change) on a
	// ends them on b too.
	oscar, err := b.Login(ctx, "oscar", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteUser(ctx, auth.Principal{Name: "root", Role: auth.RoleAdmin, Kind: auth.KindUser}, "oscar"); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, b, oscar.AccessToken)

}

// TestRevocationsLoadedAtStart: a replica that starts (or missed the
// announcements) learns of earlier revocations from Redis, not from its
// own database.
func TestRevocationsLoadedAtStart(t *testing.T) {
	clk := &clock{now: time.Now()}
	a, b, rdb := replicas(t, clk)
	ctx := context.Background()
	pair, err := a.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	// b runs no SyncRevocations: it has not heard yet.
	if _, err := b.Authenticate(ctx, pair.AccessToken); err != nil {
		t.Fatalf("b refused before any sync (the test is not isolating Redis): %v", err)
	}
	// A third replica started now loads it.
	st := openStore(t)
	if _, err := st.EnsureSigningKey(ctx, "jwt-hs256", []byte(strings.Repeat("k", 32))); err != nil {
		t.Fatal(err)
	}
	c, err := auth.NewService(ctx, st, auth.Config{Password: cheap, Now: clk.Now, SharedRevocations: auth.NewRedisRevocations(rdb, auth.DefaultRedisPrefix, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, pair.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a replica started after the revocation accepts the token: %v", err)
	}
	// Expired entries are dropped from Redis when read.
	clk.Advance(25 * time.Hour)
	list, err := auth.NewRedisRevocations(rdb, auth.DefaultRedisPrefix, nil).Revocations(ctx, clk.Now())
	if err != nil || len(list) != 0 {
		t.Errorf("Revocations after every expiry = %v, %v; want none", list, err)
	}
	if n, err := rdb.ZCard(ctx, auth.DefaultRedisPrefix+"revoked").Result(); err != nil || n != 0 {
		t.Errorf("revoked set holds %d entries (%v) after every expiry, want 0", n, err)
	}
}

// TestRedisDown: with Redis unreachable, logins are refused (the throttle
// cannot be checked) and revocations still take effect on this replica.
func TestRedisDown(t *testing.T) {
	clk := &clock{now: time.Now()}
	a, _, rdb := replicas(t, clk)
	ctx := context.Background()
	pair, err := a.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Shutdown(ctx).Err(); err != nil && !strings.Contains(err.Error(), "EOF") && !errors.Is(err, redis.ErrClosed) {
		t.Logf("shutdown: %v", err)
	}
	if _, err := a.Login(ctx, "vera", pw, "192.0.2.1:1"); err == nil || errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("login with Redis down = %v, want an operational error", err)
	}
	if err := a.Logout(ctx, p, ""); err == nil {
		t.Error("Logout with Redis down reported success, but other replicas cannot learn of it")
	}
	if _, err := a.Authenticate(ctx, pair.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("the revoked token is accepted on the replica that revoked it: %v", err)
	}
}

// TestReplicasSharingTheDatabase: without Redis, replicas that share the
// database learn of each other's revocations at their periodic refresh.
func TestReplicasSharingTheDatabase(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(t)
	var svcs []*auth.Service
	for range 2 {
		svc, err := auth.NewService(ctx, st, auth.Config{Password: cheap, RevocationRefresh: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		go svc.SyncRevocations(ctx)
		svcs = append(svcs, svc)
	}
	a, b := svcs[0], svcs[1]
	if _, err := a.CreateUser(ctx, "vera", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	pair, err := b.Login(ctx, "vera", pw, "192.0.2.1:1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, b, pair.AccessToken)
}
