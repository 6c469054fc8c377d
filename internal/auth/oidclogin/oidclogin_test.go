package oidclogin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/auth/oidclogin/fakeidp"
)

func TestNewRefusesIncompleteConfig(t *testing.T) {
	idp := fakeidp.Start(t, "kubeward", "secret")
	ok := Config{Issuer: idp.URL, ClientID: "kubeward", RedirectURL: "https://kw.example/api/v1/auth/oidc/callback", ViewerGroups: []string{"all"}}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }, "--oidc-issuer"},
		{"no client", func(c *Config) { c.ClientID = "" }, "--oidc-client-id"},
		{"no redirect", func(c *Config) { c.RedirectURL = "" }, "--oidc-redirect-url"},
		{"no group mapped", func(c *Config) { c.ViewerGroups = nil }, "no group maps to a role"},
		{"unreachable issuer", func(c *Config) { c.Issuer = idp.URL + "/nothing-here" }, "discover the provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(context.Background(), ok); err != nil {
		t.Fatalf("New(valid config): %v", err)
	}
}

func TestRoleMapping(t *testing.T) {
	p := &Provider{cfg: Config{AdminGroups: []string{"root"}, OperatorGroups: []string{"ops", "sre"}, ViewerGroups: []string{"staff"}}}
	for _, tc := range []struct {
		groups []string
		want   auth.Role
	}{
		{[]string{"staff", "root"}, auth.RoleAdmin},
		{[]string{"staff", "sre"}, auth.RoleOperator},
		{[]string{"staff"}, auth.RoleViewer},
		{[]string{"Root", "guests"}, 0}, // names match exactly
		{nil, 0},
	} {
		if got := p.role(tc.groups); got != tc.want {
			t.Errorf("role(%v) = %s, want %s", tc.groups, got, tc.want)
		}
	}
}

func TestStringsClaim(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    []string
		wantErr bool
	}{
		{``, nil, false},
		{`null`, nil, false},
		{`"ops"`, []string{"ops"}, false},
		{`["a","b"]`, []string{"a", "b"}, false},
		{`[1]`, nil, true},
		{`{"a":1}`, nil, true},
	} {
		got, err := stringsClaim(json.RawMessage(tc.raw))
		if (err != nil) != tc.wantErr || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("stringsClaim(%s) = %v, %v; want %v (error: %v)", tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestExchange covers the provider alone: the ID token's checks and the
// mapping (the API tests cover the whole flow with state and cookie).
func TestExchange(t *testing.T) {
	idp := fakeidp.Start(t, "kubeward", "secret")
	p, err := New(context.Background(), Config{Issuer: idp.URL, ClientID: "kubeward", ClientSecret: "secret",
		RedirectURL: "http://127.0.0.1/cb", OperatorGroups: []string{"ops"}, GroupsClaim: "roles"})
	if err != nil {
		t.Fatal(err)
	}
	const verifier = "0123456789012345678901234567890123456789abc"
	login := func(claims func(nonce string) map[string]any) (auth.Identity, error) {
		q, _ := idp.Authorize(p.AuthCodeURL("st", "the-nonce", verifier), func(nonce string) string { return idp.Sign(claims(nonce), nil) })
		return p.Exchange(context.Background(), q.Get("code"), "the-nonce", verifier)
	}
	id, err := login(func(nonce string) map[string]any {
		cl := idp.Claims("sub-1", nonce)
		cl["roles"] = "ops" // one string is one group
		return cl
	})
	if err != nil || id != (auth.Identity{Name: "sub-1", Role: auth.RoleOperator}) {
		t.Errorf("Exchange = %+v, %v; want sub-1 as operator", id, err)
	}
	_, err = login(func(nonce string) map[string]any {
		cl := idp.Claims("sub-1", nonce)
		cl["roles"] = []any{"ops", 7}
		return cl
	})
	if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), `claim "roles"`) {
		t.Errorf("Exchange with a malformed groups claim = %v, want ErrUnauthenticated naming the claim", err)
	}
	// A wrong PKCE verifier is refused by the provider.
	q, _ := idp.Authorize(p.AuthCodeURL("st", "the-nonce", verifier), func(nonce string) string { return idp.Sign(idp.Claims("sub-1", nonce), nil) })
	if _, err := p.Exchange(context.Background(), q.Get("code"), "the-nonce", verifier+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Exchange with another PKCE verifier = %v, want ErrUnauthenticated", err)
	}
}
