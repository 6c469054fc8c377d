package auth

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRefusedTokensAreCounted(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := newTokenCodec(bytes.Repeat([]byte{7}, 32), "kubeward", func() time.Time { return now })
	other := newTokenCodec(bytes.Repeat([]byte{8}, 32), "kubeward", func() time.Time { return now })
	foreign, _, err := other.issue(typeAccess, "alice", RoleAdmin, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := c.issue(typeAccess, "alice", RoleAdmin, now.Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	refresh, _, err := c.issue(typeRefresh, "alice", RoleAdmin, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ token, reason string }{
		{foreign, "bad_signature"},
		{expired, "expired"},
		{"a.b", "malformed"},
		{refresh, "wrong_claims"},
	} {
		before := testutil.ToFloat64(tokenRejections.WithLabelValues(tc.reason))
		if _, err := c.parse(tc.token, typeAccess); err == nil {
			t.Errorf("%s: token accepted", tc.reason)
		}
		if got := testutil.ToFloat64(tokenRejections.WithLabelValues(tc.reason)) - before; got != 1 {
			t.Errorf("%s: counter rose by %v, want 1", tc.reason, got)
		}
	}
}
