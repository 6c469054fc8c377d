// Package authtest is the contract test suite for auth.Store. Each store
// backend runs it from its own tests:
//
//	authtest.Run(t, func(t *testing.T) auth.Store { return openStore(t) })
package authtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

// Opener returns a new, empty store; the test closes it (via t.Cleanup)
// when the opener arranges that.
type Opener func(t *testing.T) auth.Store

// base is a fixed time at store precision, so values round-trip exactly.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the contract suite.
func Run(t *testing.T, open Opener) {
	t.Run("Users", func(t *testing.T) { testUsers(t, open(t)) })
	t.Run("APITokens", func(t *testing.T) { testAPITokens(t, open(t)) })
	t.Run("ChangeAndDeleteUsers", func(t *testing.T) { testChangeAndDeleteUsers(t, open(t)) })
	t.Run("Revocation", func(t *testing.T) { testRevocation(t, open(t)) })
	t.Run("SigningKey", func(t *testing.T) { testSigningKey(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
}

func testUsers(t *testing.T, st auth.Store) {
	ctx := context.Background()
	if n, err := st.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on an empty store = %d, %v; want 0, nil", n, err)
	}
	users := []auth.User{
		{Name: "zoe", Role: auth.RoleViewer, PasswordHash: "$argon2id$z", CreatedAt: base},
		{Name: "adam", Role: auth.RoleAdmin, PasswordHash: "$argon2id$a", CreatedAt: base.Add(time.Second)},
		{Name: "mia", Role: auth.RoleOperator, PasswordHash: "$argon2id$m", CreatedAt: base.Add(2 * time.Second)},
	}
	for _, u := range users {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.Name, err)
		}
	}
	dup := users[0]
	dup.Role = auth.RoleAdmin
	if err := st.CreateUser(ctx, dup); !errors.Is(err, auth.ErrConflict) {
		t.Errorf("CreateUser(duplicate) = %v, want ErrConflict", err)
	}
	got, err := st.GetUser(ctx, "zoe")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if diff := cmp.Diff(users[0], got); diff != "" {
		t.Errorf("GetUser(zoe) differs from what was stored (-want +got), and a duplicate must not overwrite it:\n%s", diff)
	}
	if _, err := st.GetUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(nobody) = %v, want store.ErrNotFound", err)
	}
	list, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	want := []auth.User{users[1], users[2], users[0]}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("ListUsers not all users by name (-want +got):\n%s", diff)
	}
	if n, err := st.CountUsers(ctx); err != nil || n != len(users) {
		t.Errorf("CountUsers = %d, %v; want %d", n, err, len(users))
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testAPITokens(t *testing.T, st auth.Store) {
	ctx := context.Background()
	toks := []auth.APIToken{
		{ID: "t1", Name: "ci", Owner: "alice", Role: auth.RoleViewer, Hash: hash("a"), CreatedAt: base},
		{ID: "t2", Name: "deploy", Owner: "bob", Role: auth.RoleOperator, Hash: hash("b"), CreatedAt: base.Add(time.Second), ExpiresAt: base.Add(time.Hour)},
		{ID: "t3", Name: "ci-2", Owner: "alice", Role: auth.RoleAdmin, Hash: hash("c"), CreatedAt: base.Add(2 * time.Second)},
	}
	for _, tk := range toks {
		if err := st.CreateAPIToken(ctx, tk); err != nil {
			t.Fatalf("CreateAPIToken(%s): %v", tk.ID, err)
		}
	}
	for _, dup := range []auth.APIToken{
		{ID: "t1", Name: "x", Owner: "x", Role: auth.RoleViewer, Hash: hash("new"), CreatedAt: base},
		{ID: "t9", Name: "x", Owner: "x", Role: auth.RoleViewer, Hash: hash("a"), CreatedAt: base},
	} {
		if err := st.CreateAPIToken(ctx, dup); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("CreateAPIToken(duplicate id or hash %s) = %v, want ErrConflict", dup.ID, err)
		}
	}
	got, err := st.GetAPITokenByHash(ctx, hash("b"))
	if err != nil {
		t.Fatalf("GetAPITokenByHash: %v", err)
	}
	if diff := cmp.Diff(toks[1], got); diff != "" {
		t.Errorf("GetAPITokenByHash round trip (-want +got):\n%s", diff)
	}
	if _, err := st.GetAPITokenByHash(ctx, hash("zzz")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAPITokenByHash(unknown) = %v, want store.ErrNotFound", err)
	}
	for _, tc := range []struct {
		owner string
		want  []auth.APIToken
	}{
		{"", toks},
		{"alice", []auth.APIToken{toks[0], toks[2]}},
		{"carol", nil},
	} {
		list, err := st.ListAPITokens(ctx, tc.owner)
		if err != nil {
			t.Fatalf("ListAPITokens(%q): %v", tc.owner, err)
		}
		if diff := cmp.Diff(tc.want, list); diff != "" {
			t.Errorf("ListAPITokens(%q) (-want +got):\n%s", tc.owner, diff)
		}
	}
	if err := st.DeleteAPIToken(ctx, "t1"); err != nil {
		t.Fatalf("DeleteAPIToken: %v", err)
	}
	if err := st.DeleteAPIToken(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAPIToken twice = %v, want store.ErrNotFound", err)
	}
	if _, err := st.GetAPITokenByHash(ctx, hash("a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted token still found: %v", err)
	}
}

func testRevocation(t *testing.T, st auth.Store) {
	ctx := context.Background()
	for i, exp := range []time.Time{base.Add(-time.Hour), base.Add(-time.Minute), base.Add(time.Hour)} {
		if err := st.RevokeToken(ctx, fmt.Sprintf("jti-%d", i), exp); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
	}
	// Revoking again with a later expiry keeps the later one.
	if err := st.RevokeToken(ctx, "jti-1", base.Add(2*time.Hour)); err != nil {
		t.Fatalf("RevokeToken again: %v", err)
	}
	if err := st.RevokeToken(ctx, "jti-1", base.Add(-2*time.Hour)); err != nil {
		t.Fatalf("RevokeToken with an earlier expiry: %v", err)
	}
	n, err := st.PurgeRevokedTokens(ctx, base)
	if err != nil || n != 1 {
		t.Errorf("PurgeRevokedTokens = %d, %v; want 1 (only jti-0 expired)", n, err)
	}
	list, err := st.ListRevokedTokens(ctx, base.Add(time.Hour))
	if err != nil {
		t.Fatalf("ListRevokedTokens: %v", err)
	}
	// jti-2 expires exactly at the given time and still counts; jti-1 was
	// extended to base+2h by the second RevokeToken.
	wantList := []auth.Revocation{{JTI: "jti-1", ExpiresAt: base.Add(2 * time.Hour)}, {JTI: "jti-2", ExpiresAt: base.Add(time.Hour)}}
	if diff := cmp.Diff(wantList, list); diff != "" {
		t.Errorf("ListRevokedTokens(base+1h) (-want +got):\n%s", diff)
	}
	if list, err := st.ListRevokedTokens(ctx, base.Add(3*time.Hour)); err != nil || len(list) != 0 {
		t.Errorf("ListRevokedTokens(after every expiry) = %v, %v; want none", list, err)
	}
	for jti, want := range map[string]bool{"jti-0": false, "jti-1": true, "jti-2": true, "other": false} {
		got, err := st.TokenRevoked(ctx, jti)
		if err != nil || got != want {
			t.Errorf("TokenRevoked(%s) = %v, %v; want %v", jti, got, err, want)
		}
	}
}

func testSigningKey(t *testing.T, st auth.Store) {
	ctx := context.Background()
	first, err := st.EnsureSigningKey(ctx, "k", bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatalf("EnsureSigningKey: %v", err)
	}
	second, err := st.EnsureSigningKey(ctx, "k", bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatalf("EnsureSigningKey again: %v", err)
	}
	if !bytes.Equal(first, bytes.Repeat([]byte{1}, 32)) || !bytes.Equal(second, first) {
		t.Errorf("EnsureSigningKey = %x then %x; want the first candidate both times", first, second)
	}
	other, err := st.EnsureSigningKey(ctx, "other", bytes.Repeat([]byte{3}, 32))
	if err != nil || !bytes.Equal(other, bytes.Repeat([]byte{3}, 32)) {
		t.Errorf("EnsureSigningKey(other) = %x, %v; want its own key", other, err)
	}
}

func testAudit(t *testing.T, st auth.Store) {
	ctx := context.Background()
	var all []auth.AuditEntry
	for i := range 7 {
		e := auth.AuditEntry{
			Time:   base.Add(time.Duration(i) * time.Minute),
			Actor:  []string{"alice", "bob"}[i%2],
			Action: "POST /api/v1/users",
			Target: fmt.Sprintf("/api/v1/users/%d", i),
			Status: 200 + i,
			Source: "127.0.0.1",
		}
		if err := st.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		all = append(all, e)
	}
	ignoreID := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ID" }, cmp.Ignore())
	newestFirst := func(es []auth.AuditEntry) []auth.AuditEntry {
		out := make([]auth.AuditEntry, 0, len(es))
		for i := len(es) - 1; i >= 0; i-- {
			out = append(out, es[i])
		}
		return out
	}
	var alice []auth.AuditEntry
	for _, e := range all {
		if e.Actor == "alice" {
			alice = append(alice, e)
		}
	}
	for _, tc := range []struct {
		name  string
		q     auth.AuditQuery
		want  []auth.AuditEntry
		total int
	}{
		{"all", auth.AuditQuery{Limit: 100}, newestFirst(all), 7},
		{"page", auth.AuditQuery{Limit: 2, Offset: 1}, newestFirst(all)[1:3], 7},
		{"actor", auth.AuditQuery{Actor: "alice", Limit: 100}, newestFirst(alice), len(alice)},
		{"since", auth.AuditQuery{Since: base.Add(5 * time.Minute), Limit: 100}, newestFirst(all[5:]), 2},
		{"none", auth.AuditQuery{Actor: "carol"}, nil, 0},
	} {
		got, total, err := st.ListAudit(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: ListAudit: %v", tc.name, err)
		}
		if total != tc.total {
			t.Errorf("%s: total = %d, want %d", tc.name, total, tc.total)
		}
		if diff := cmp.Diff(tc.want, got, ignoreID); diff != "" {
			t.Errorf("%s: ListAudit (-want +got):\n%s", tc.name, diff)
		}
		for _, e := range got {
			if e.ID == 0 {
				t.Errorf("%s: entry without an ID: %+v", tc.name, e)
			}
		}
	}
}

func testChangeAndDeleteUsers(t *testing.T, st auth.Store) {
	ctx := context.Background()
	for _, u := range []auth.User{
		{Name: "ann", Role: auth.RoleAdmin, PasswordHash: "h1", CreatedAt: base},
		{Name: "ben", Role: auth.RoleViewer, PasswordHash: "h2", CreatedAt: base},
	} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, tk := range []auth.APIToken{
		{ID: "a1", Name: "ci", Owner: "ann", Role: auth.RoleViewer, Hash: hash("a1"), CreatedAt: base},
		{ID: "b1", Name: "ci", Owner: "ben", Role: auth.RoleViewer, Hash: hash("b1"), CreatedAt: base},
	} {
		if err := st.CreateAPIToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	// Compare-and-set: only from the current hash.
	if err := st.ReplacePasswordHash(ctx, "ann", "h1", "h1b"); err != nil {
		t.Fatalf("ReplacePasswordHash: %v", err)
	}
	if err := st.ReplacePasswordHash(ctx, "ann", "h1", "stale"); !errors.Is(err, auth.ErrConflict) {
		t.Errorf("ReplacePasswordHash from a stale hash = %v, want ErrConflict", err)
	}
	if err := st.ReplacePasswordHash(ctx, "nobody", "h1", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReplacePasswordHash(nobody) = %v, want store.ErrNotFound", err)
	}
	if u, err := st.GetUser(ctx, "ann"); err != nil || u.PasswordHash != "h1b" {
		t.Errorf("GetUser(ann) = %+v, %v; want the hash h1b", u, err)
	}
	if u, err := st.GetUser(ctx, "ben"); err != nil || u.PasswordHash != "h2" {
		t.Errorf("another user's hash changed: %+v, %v", u, err)
	}
	// Deleting a user deletes its API tokens, and nothing else.
	if err := st.DeleteUser(ctx, "ben"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if err := st.DeleteUser(ctx, "ben"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser twice = %v, want store.ErrNotFound", err)
	}
	if _, err := st.GetUser(ctx, "ben"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user still found: %v", err)
	}
	if _, err := st.GetAPITokenByHash(ctx, hash("b1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted user's API token still works: %v", err)
	}
	if _, err := st.GetAPITokenByHash(ctx, hash("a1")); err != nil {
		t.Errorf("another user's API token was deleted: %v", err)
	}
	if n, err := st.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}
