package crowdsectest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/crowdsec"
)

// BenchmarkStartupQuery measures what a bouncer's startup poll costs the
// store: LastID then Active over n live decisions (the handler's reads).
// s must be empty; it is filled with n bans first (not timed).
func BenchmarkStartupQuery(b *testing.B, s crowdsec.Store, n int) {
	ctx := context.Background()
	for i := range n {
		if _, err := s.Add(ctx, crowdsec.Decision{Type: crowdsec.TypeBan, Scope: crowdsec.ScopeIP,
			Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Scenario: "kubeward/bench", Until: T0.Add(time.Hour)}); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	f := crowdsec.Filter{Contains: true, Scopes: []string{crowdsec.ScopeIP, crowdsec.ScopeRange}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		last, err := s.LastID(ctx)
		if err != nil {
			b.Fatal(err)
		}
		list, err := s.Active(ctx, T0, &f, 0, last)
		if err != nil || len(list) != n {
			b.Fatalf("Active = %d decisions, %v; want %d", len(list), err, n)
		}
	}
}
