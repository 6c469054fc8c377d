package auth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
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
