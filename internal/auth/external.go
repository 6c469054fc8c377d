package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Identity is a user as an external identity provider vouches for them,
// after the provider's answer was verified.
type Identity struct {
	// Name identifies the user at the provider (e.g. a verified e-mail
	// address or the OIDC subject). kubeward calls the user
	// "<provider>:<Name>", which no local user name can be.
	Name string
	// Role is what the provider's groups map to.
	Role Role
}

// IdentityProvider is an external login with an authorization-code flow:
// OpenID Connect (package oidclogin). The Service keeps the flow's
// secrets; the provider only talks to the identity provider.
type IdentityProvider interface {
	// Name prefixes the provider's user names, e.g. "oidc".
	Name() string
	// AuthCodeURL returns where to send the browser to log in, asking the
	// provider to return state, bind its ID token to nonce and accept only
	// the PKCE verifier whose S256 challenge is sent.
	AuthCodeURL(state, nonce, pkceVerifier string) string
	// Exchange redeems an authorization code with the PKCE verifier and
	// returns the identity of the verified ID token, whose nonce must be
	// nonce. A refused answer wraps ErrUnauthenticated; a user whose
	// groups map to no role, ErrForbidden.
	Exchange(ctx context.Context, code, nonce, pkceVerifier string) (Identity, error)
}

// ExternalLoginTTL is how long a started external login may take.
const ExternalLoginTTL = 10 * time.Minute

// maxLoginStateLen bounds the sealed state accepted (it arrives in a
// cookie).
const maxLoginStateLen = 2048

// loginState is what a started login must remember until the callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	// Expires is the Unix time after which the login is refused.
	Expires int64 `json:"e"`
}

// stateSealer signs login states with a key derived from the JWT signing
// key, so every replica (sharing the database) accepts the others'.
type stateSealer struct{ key []byte }

func newStateSealer(signingKey []byte) stateSealer {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte("kubeward external login state v1"))
	return stateSealer{key: m.Sum(nil)}
}

func (s stateSealer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// seal encodes st as base64url(JSON) "." base64url(HMAC-SHA256).
func (s stateSealer) seal(st loginState) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("auth: encode the login state: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// open verifies and decodes a sealed state. Every failure wraps
// ErrUnauthenticated and says what was wrong.
func (s stateSealer) open(sealed string, now time.Time) (loginState, error) {
	var st loginState
	if len(sealed) > maxLoginStateLen {
		return st, fmt.Errorf("%w: login state longer than %d bytes", ErrUnauthenticated, maxLoginStateLen)
	}
	payload, sig, ok := strings.Cut(sealed, ".")
	if !ok {
		return st, fmt.Errorf("%w: login state is not <payload>.<signature>", ErrUnauthenticated)
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.mac(payload)) {
		return st, fmt.Errorf("%w: login state signature does not verify", ErrUnauthenticated)
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return st, fmt.Errorf("%w: login state payload is not base64url", ErrUnauthenticated)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%w: login state payload: %v", ErrUnauthenticated, err)
	}
	if st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return st, fmt.Errorf("%w: login state lacks its state, nonce or verifier", ErrUnauthenticated)
	}
	if now.Unix() > st.Expires {
		return st, fmt.Errorf("%w: the login took longer than %s; start again", ErrUnauthenticated, ExternalLoginTTL)
	}
	return st, nil
}

// ExternalLogin reports whether an IdentityProvider is configured.
func (s *Service) ExternalLogin() bool { return s.cfg.IdentityProvider != nil }

// ErrNoExternalLogin is returned by an external login attempted on a
// server without an IdentityProvider.
var ErrNoExternalLogin = errors.New("auth: external login is not configured on this server (see --oidc-issuer)")

// BeginExternalLogin starts a login at the IdentityProvider. It returns
// the URL to send the browser to and a sealed state (signed, valid for
// ExternalLoginTTL) to give back to FinishExternalLogin; the API keeps it
// in a cookie. The state carries the OAuth state, the OIDC nonce and the
// PKCE verifier, each 32 random bytes.
func (s *Service) BeginExternalLogin() (redirectURL, sealed string, err error) {
	idp := s.cfg.IdentityProvider
	if idp == nil {
		return "", "", ErrNoExternalLogin
	}
	var st loginState
	for _, f := range []*string{&st.State, &st.Nonce, &st.Verifier} {
		if *f, err = randomURLString(32); err != nil {
			return "", "", err
		}
	}
	st.Expires = s.cfg.Now().Add(ExternalLoginTTL).Unix()
	if sealed, err = s.sealer.seal(st); err != nil {
		return "", "", err
	}
	return idp.AuthCodeURL(st.State, st.Nonce, st.Verifier), sealed, nil
}

// FinishExternalLogin completes a login begun by BeginExternalLogin:
// sealed is the state it returned, state and code what the provider sent
// back. It checks the state, redeems the code (PKCE), verifies the ID token
// and its nonce, and issues a token pair for "<provider>:<name>" with the
// role the provider's groups map to. It returns the user name too, for the
// audit log.
func (s *Service) FinishExternalLogin(ctx context.Context, sealed, state, code string) (TokenPair, string, error) {
	idp := s.cfg.IdentityProvider
	if idp == nil {
		return TokenPair{}, "", ErrNoExternalLogin
	}
	now := s.cfg.Now()
	st, err := s.sealer.open(sealed, now)
	if err != nil {
		loginsTotal.WithLabelValues("bad_state").Inc()
		return TokenPair{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 {
		loginsTotal.WithLabelValues("bad_state").Inc()
		return TokenPair{}, "", fmt.Errorf("%w: the state the identity provider returned is not the one this browser started with", ErrUnauthenticated)
	}
	if code == "" {
		loginsTotal.WithLabelValues("bad_credentials").Inc()
		return TokenPair{}, "", fmt.Errorf("%w: the identity provider returned no authorization code", ErrUnauthenticated)
	}
	id, err := idp.Exchange(ctx, code, st.Nonce, st.Verifier)
	if err != nil {
		switch {
		case errors.Is(err, ErrForbidden):
			loginsTotal.WithLabelValues("no_role").Inc()
		case errors.Is(err, ErrUnauthenticated):
			loginsTotal.WithLabelValues("bad_credentials").Inc()
		default:
			loginsTotal.WithLabelValues("error").Inc()
		}
		return TokenPair{}, "", fmt.Errorf("auth: %s login: %w", idp.Name(), err)
	}
	name := idp.Name() + ":" + id.Name
	if err := checkExternalName(name); err != nil {
		loginsTotal.WithLabelValues("error").Inc()
		return TokenPair{}, "", fmt.Errorf("%w: %s login: the user name %q cannot be used: %v", ErrUnauthenticated, idp.Name(), id.Name, err)
	}
	if id.Role < RoleViewer || id.Role > RoleAdmin {
		loginsTotal.WithLabelValues("error").Inc()
		return TokenPair{}, name, fmt.Errorf("%w: %s login: %s was given no valid role (%s)", ErrUnauthenticated, idp.Name(), name, id.Role)
	}
	pair, err := s.issuePair(name, id.Role, now)
	if err != nil {
		return TokenPair{}, name, err
	}
	loginsTotal.WithLabelValues("ok").Inc()
	return pair, name, nil
}

// maxExternalNameLen bounds "<provider>:<name>".
const maxExternalNameLen = 256

func checkExternalName(name string) error {
	if len(name) > maxExternalNameLen {
		return fmt.Errorf("longer than %d bytes", maxExternalNameLen)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
		return errors.New("contains spaces or unprintable characters")
	}
	return nil
}

// isExternalUser reports whether a token subject names a user of an
// IdentityProvider ("<provider>:<name>"); local names cannot hold ':'.
func isExternalUser(name string) bool { return strings.Contains(name, ":") }

// randomURLString returns n random bytes in unpadded base64url.
func randomURLString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
