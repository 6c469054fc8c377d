// Package oidclogin is kubeward's OpenID Connect login: an
// auth.IdentityProvider over github.com/coreos/go-oidc (discovery, ID token
// verification against the provider's JWKS) and golang.org/x/oauth2 (the
// authorization-code exchange with PKCE). The flow's state, nonce and PKCE
// verifier are kept by auth.Service; this package talks to the provider and
// maps the user's groups to a kubeward role.
//
// Role mapping: the groups claim (default "groups", a list of strings or
// one string) is matched against the admin, operator and viewer group
// lists; the highest matching role wins. A user in none of them is
// refused (auth.ErrForbidden): an identity provider usually serves far more
// people than should see kubeward's security data, so access is granted
// only by an explicit group (list a group everyone has in ViewerGroups to
// let every user in).
package oidclogin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/kubeward/kubeward/internal/auth"
)

// Config configures a Provider.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are kubeward's client registration.
	ClientID     string
	ClientSecret string
	// RedirectURL is kubeward's callback as registered at the provider,
	// ending in /api/v1/auth/oidc/callback.
	RedirectURL string
	// Scopes requested besides "openid"; default "profile", "email".
	// Some providers need "groups" here to send the groups claim.
	Scopes []string
	// GroupsClaim names the ID token claim holding the user's groups;
	// default "groups".
	GroupsClaim string
	// AdminGroups, OperatorGroups and ViewerGroups map groups to roles.
	AdminGroups, OperatorGroups, ViewerGroups []string
	// HTTPClient talks to the provider; default one with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for ID token expiry; default time.Now.
	Now func() time.Time
}

// Provider is an OIDC identity provider. It is safe for concurrent use.
type Provider struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
}

var _ auth.IdentityProvider = (*Provider)(nil)

// New fetches the provider's discovery document and returns the Provider.
// ctx bounds the discovery request only.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("oidc: the issuer URL is required (--oidc-issuer)")
	case cfg.ClientID == "":
		return nil, errors.New("oidc: the client ID is required (--oidc-client-id)")
	case cfg.RedirectURL == "":
		return nil, errors.New("oidc: the redirect URL is required (--oidc-redirect-url), e.g. https://kubeward.example.com/api/v1/auth/oidc/callback")
	case len(cfg.AdminGroups)+len(cfg.OperatorGroups)+len(cfg.ViewerGroups) == 0:
		return nil, errors.New("oidc: no group maps to a role, so nobody could log in; set --oidc-admin-groups, --oidc-operator-groups or --oidc-viewer-groups")
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"profile", "email"}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cctx := oidc.ClientContext(ctx, cfg.HTTPClient)
	p, err := oidc.NewProvider(cctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover the provider at %s (check --oidc-issuer and that it is reachable): %w", cfg.Issuer, err)
	}
	return &Provider{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURL,
			Endpoint:     p.Endpoint(),
			Scopes:       append([]string{oidc.ScopeOpenID}, cfg.Scopes...),
		},
		// The key set fetches use the client; their context is not
		// cancelled with ctx.
		verifier: p.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), cfg.HTTPClient), &oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now}),
		client:   cfg.HTTPClient,
	}, nil
}

// Name implements auth.IdentityProvider.
func (p *Provider) Name() string { return "oidc" }

// AuthCodeURL implements auth.IdentityProvider.
func (p *Provider) AuthCodeURL(state, nonce, pkceVerifier string) string {
	return p.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkceVerifier))
}

// Exchange implements auth.IdentityProvider.
func (p *Provider) Exchange(ctx context.Context, code, nonce, pkceVerifier string) (auth.Identity, error) {
	tok, err := p.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.client), code, oauth2.VerifierOption(pkceVerifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return auth.Identity{}, fmt.Errorf("%w: the provider refused the authorization code: %s", auth.ErrUnauthenticated, re.ErrorCode)
		}
		return auth.Identity{}, fmt.Errorf("oidc: redeem the authorization code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return auth.Identity{}, fmt.Errorf("%w: the provider's token response has no id_token", auth.ErrUnauthenticated)
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return auth.Identity{}, fmt.Errorf("%w: ID token: %v", auth.ErrUnauthenticated, err)
	}
	if idt.Nonce != nonce {
		return auth.Identity{}, fmt.Errorf("%w: ID token: the nonce is not the one this login sent", auth.ErrUnauthenticated)
	}
	return p.identity(idt)
}

// identity maps a verified ID token to the user's name and role.
func (p *Provider) identity(idt *oidc.IDToken) (auth.Identity, error) {
	var cl map[string]json.RawMessage
	if err := idt.Claims(&cl); err != nil {
		return auth.Identity{}, fmt.Errorf("%w: ID token claims: %v", auth.ErrUnauthenticated, err)
	}
	var id struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&id); err != nil {
		return auth.Identity{}, fmt.Errorf("%w: ID token claims email/email_verified: %v", auth.ErrUnauthenticated, err)
	}
	groups, err := stringsClaim(cl[p.cfg.GroupsClaim])
	if err != nil {
		return auth.Identity{}, fmt.Errorf("%w: ID token claim %q: %v", auth.ErrUnauthenticated, p.cfg.GroupsClaim, err)
	}
	// A verified e-mail address is readable in the audit log; the subject
	// is the fallback, unique at the issuer.
	name := idt.Subject
	if id.EmailVerified && id.Email != "" {
		name = strings.ToLower(id.Email)
	}
	role := p.role(groups)
	if role == 0 {
		return auth.Identity{Name: name}, fmt.Errorf("%w: %s is in no group that maps to a kubeward role (claim %q)", auth.ErrForbidden, name, p.cfg.GroupsClaim)
	}
	return auth.Identity{Name: name, Role: role}, nil
}

// role returns the highest role any of groups maps to, or 0.
func (p *Provider) role(groups []string) auth.Role {
	for _, m := range []struct {
		role   auth.Role
		groups []string
	}{{auth.RoleAdmin, p.cfg.AdminGroups}, {auth.RoleOperator, p.cfg.OperatorGroups}, {auth.RoleViewer, p.cfg.ViewerGroups}} {
		for _, g := range groups {
			if slices.Contains(m.groups, g) {
				return m.role
			}
		}
	}
	return 0
}

// stringsClaim decodes a claim that is absent, a string or a list of
// strings.
func stringsClaim(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return []string{one}, nil
}
