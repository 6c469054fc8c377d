// Package fakeidp is an in-process OpenID Connect provider for tests, on
// 127.0.0.1: discovery and JWKS (go-oidc's oidctest), and a token endpoint
// that checks the client secret, the redirect URI and the PKCE verifier
// and returns the ID token the test chose, signed with go-jose.
package fakeidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// keyID names the provider's signing key in its JWKS.
const keyID = "fakeidp-1"

// IdP is a running fake provider.
type IdP struct {
	// URL is the issuer URL.
	URL          string
	ClientID     string
	ClientSecret string
	// Key signs ID tokens; its public half is in the JWKS.
	Key *rsa.PrivateKey

	t      testing.TB
	mu     sync.Mutex
	grants map[string]grant
}

// grant is an authorization code waiting to be redeemed.
type grant struct {
	challenge, redirectURI string
	idToken                string
}

// Start starts a provider for t, stopped when t ends.
func Start(t testing.TB, clientID, clientSecret string) *IdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("fakeidp: generate key: %v", err)
	}
	p := &IdP{ClientID: clientID, ClientSecret: clientSecret, Key: key, t: t, grants: make(map[string]grant)}
	disc := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: keyID, Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.Handle("/", disc)
	mux.HandleFunc("POST /token", p.token)
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	disc.SetIssuer(srv.URL)
	p.URL = srv.URL
	return p
}

// Claims returns valid ID token claims for the client: issuer, audience,
// subject, nonce, issued now, expiring in an hour.
func (p *IdP) Claims(subject, nonce string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.URL, "aud": p.ClientID, "sub": subject, "nonce": nonce,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims as an ID token with key (the provider's when nil).
func (p *IdP) Sign(claims map[string]any, key *rsa.PrivateKey) string {
	if key == nil {
		key = p.Key
	}
	b, err := json.Marshal(claims)
	if err != nil {
		p.t.Fatalf("fakeidp: encode claims: %v", err)
	}
	return oidctest.SignIDToken(key, keyID, oidc.RS256, string(b))
}

// Authorize plays the user's visit to the authorization endpoint: it
// checks authURL (client, response type, PKCE S256, openid scope), records
// a code that redeems to idToken, and returns the redirect URI's query as
// the provider would send it back (code and state), plus the nonce the
// login asked for (so the test can build idToken's claims).
func (p *IdP) Authorize(authURL string, idToken func(nonce string) string) (callback url.Values, redirectURI string) {
	p.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		p.t.Fatalf("fakeidp: authorization URL %q: %v", authURL, err)
	}
	q := u.Query()
	for k, want := range map[string]string{"client_id": p.ClientID, "response_type": "code", "code_challenge_method": "S256"} {
		if got := q.Get(k); got != want {
			p.t.Fatalf("fakeidp: authorization URL has %s=%q, want %q: %s", k, got, want, authURL)
		}
	}
	if !strings.HasPrefix(authURL, p.URL+"/auth?") {
		p.t.Fatalf("fakeidp: authorization URL %s is not this provider's", authURL)
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") || q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge") == "" {
		p.t.Fatalf("fakeidp: authorization URL lacks the openid scope, state, nonce or code_challenge: %s", authURL)
	}
	code := rand.Text()
	p.mu.Lock()
	p.grants[code] = grant{challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), idToken: idToken(q.Get("nonce"))}
	p.mu.Unlock()
	return url.Values{"code": {code}, "state": {q.Get("state")}}, q.Get("redirect_uri")
}

// token is the token endpoint (RFC 6749 4.1.3, RFC 7636 4.6).
func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if err := r.ParseForm(); err != nil {
		fail("invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, ok := p.grants[code]
	delete(p.grants, code) // codes are single-use
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code", !ok:
		fail("invalid_grant")
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		fail("invalid_grant")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		fail("invalid_grant") // PKCE verifier does not match the challenge
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": g.idToken,
		})
	}
}
