package auth

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzParseToken checks that no input makes token parsing panic, and that
// whatever it accepts is a well-formed access token signed with the key.
func FuzzParseToken(f *testing.F) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	key := bytes.Repeat([]byte{7}, 32)
	c := newTokenCodec(key, "kubeward", func() time.Time { return now })
	access, _, err := c.issue(typeAccess, "alice", RoleAdmin, now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	refresh, _, err := c.issue(typeRefresh, "alice", RoleViewer, now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(access, ".")
	for _, s := range []string{
		access, refresh, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",
		parts[0] + "." + parts[1] + "." + parts[2] + "x",
		strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		cl, err := c.parse(token, typeAccess)
		if err != nil {
			return
		}
		if cl.Type != typeAccess || cl.Subject == "" || cl.ID == "" || !cl.Role.Allows(RoleViewer) || cl.Role > RoleAdmin {
			t.Fatalf("accepted a token with bad claims: %+v", cl)
		}
		if !cl.ExpiresAt.After(now) {
			t.Fatalf("accepted an expired token: %+v", cl)
		}
	})
}
