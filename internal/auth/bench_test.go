package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/redistest"
)

// BenchmarkHashPassword measures one argon2id hash with the default
// parameters: the CPU cost of one login.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword(pw, auth.DefaultPasswordParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin measures login throughput (successful logins, default
// argon2id parameters, SQLite store), with as many parallel callers as
// GOMAXPROCS and the service's hash concurrency limit in force.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	st := openStore(b)
	svc, err := auth.NewService(ctx, st, auth.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, "alice", pw, auth.RoleAdmin); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Login(ctx, "alice", pw, "127.0.0.1:1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
}

func BenchmarkHashPasswordParams(b *testing.B) {
	for _, p := range []auth.PasswordParams{
		{Time: 1, MemoryKiB: 64 * 1024, Threads: 2},
		{Time: 1, MemoryKiB: 64 * 1024, Threads: 1},
		{Time: 1, MemoryKiB: 46 * 1024, Threads: 1},
		{Time: 2, MemoryKiB: 19 * 1024, Threads: 1},
	} {
		b.Run(fmt.Sprintf("t=%d,m=%dMiB,p=%d", p.Time, p.MemoryKiB/1024, p.Threads), func(b *testing.B) {
			for b.Loop() {
				if _, err := auth.HashPassword(pw, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthenticate measures the authentication check alone, what every
// API request pays: verifying a JWT access token and the revocation check,
// with as many parallel callers as GOMAXPROCS. "store" is one replica
// (SQLite); "redis" shares revocations through a real redis-server, which
// must cost nothing more: the deny-list is checked in memory.
func BenchmarkAuthenticate(b *testing.B) {
	for _, shared := range []string{"store", "redis"} {
		b.Run(shared, func(b *testing.B) {
			ctx := context.Background()
			cfg := auth.Config{Password: cheap}
			if shared == "redis" {
				srv := redistest.Start(b)
				opts, err := redis.ParseURL(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				rdb := redis.NewClient(opts)
				b.Cleanup(func() { _ = rdb.Close() })
				cfg.SharedRevocations = auth.NewRedisRevocations(rdb, auth.DefaultRedisPrefix, nil)
			}
			svc, err := auth.NewService(ctx, openStore(b), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.CreateUser(ctx, "alice", pw, auth.RoleViewer); err != nil {
				b.Fatal(err)
			}
			pair, err := svc.Login(ctx, "alice", pw, "127.0.0.1:1")
			if err != nil {
				b.Fatal(err)
			}
			// A realistic deny-list: other sessions already revoked.
			for i := range 1000 {
				p := auth.Principal{Name: "alice", Role: auth.RoleViewer, Kind: auth.KindUser, TokenID: fmt.Sprintf("%032x", i), ExpiresAt: time.Now().Add(time.Hour)}
				if err := svc.Logout(ctx, p, ""); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Authenticate(ctx, pair.AccessToken); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "checks/s")
		})
	}
}

// BenchmarkRevocationCheck compares what the deny-list check costs per
// request: "store" is the query every request made before the in-memory
// cache (SQLite, one revoked ID among 1,000), "cache" the lookup made now.
func BenchmarkRevocationCheck(b *testing.B) {
	ctx := context.Background()
	st := openStore(b)
	exp := time.Now().Add(time.Hour)
	for i := range 1000 {
		if err := st.RevokeToken(ctx, fmt.Sprintf("%032x", i), exp); err != nil {
			b.Fatal(err)
		}
	}
	cache := auth.NewRevocationCache(time.Minute, time.Now, nil, auth.StoreRevocations(st))
	if err := cache.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	const probe = "ffffffffffffffffffffffffffffffff" // not revoked: the common case
	b.Run("store", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if revoked, err := st.TokenRevoked(ctx, probe); err != nil || revoked {
					b.Error(revoked, err)
					return
				}
			}
		})
	})
	b.Run("cache", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if cache.IsRevoked(probe) {
					b.Error("revoked")
					return
				}
			}
		})
	})
}
