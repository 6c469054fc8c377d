package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/store"
)

// signingKeyName is the EnsureSigningKey name of the JWT HMAC key.
const signingKeyName = "jwt-hs256"

// APITokenPrefix starts every API token, so scanners (and people) can tell
// a kubeward token when they see one.
const APITokenPrefix = "kwt_"

var userNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// Config tunes a Service. The zero value gives the defaults.
type Config struct {
	// Issuer is the JWT iss and aud claim; default "kubeward".
	Issuer string
	// AccessTTL is the lifetime of access tokens; default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens; default 24 hours.
	RefreshTTL time.Duration
	// Password sets argon2id's cost; default DefaultPasswordParams.
	Password PasswordParams
	// UserThrottle and AddrThrottle count failed logins per user name and
	// per source address; defaults: 5 and 20 failures per 15 minutes, in
	// memory.
	UserThrottle, AddrThrottle Throttle
	// MaxConcurrentHashes bounds concurrent argon2id computations; default
	// GOMAXPROCS.
	MaxConcurrentHashes int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// TokenPair is what a login or refresh returns.
type TokenPair struct {
	AccessToken      string    `json:"access_token"`
	RefreshToken     string    `json:"refresh_token"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        int       `json:"expires_in"`
	AccessExpiresAt  time.Time `json:"access_expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

// Service is the authentication and authorization service. It is safe for
// concurrent use.
type Service struct {
	st     Store
	cfg    Config
	codec  *tokenCodec
	hashes hashLimiter
	// dummyHash is verified when a login names an unknown user, so that
	// unknown and known users cost the same time.
	dummyHash string
}

// NewService loads (creating at first start) the JWT signing key from st
// and returns the service.
func NewService(ctx context.Context, st Store, cfg Config) (*Service, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = "kubeward"
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 24 * time.Hour
	}
	if cfg.Password == (PasswordParams{}) {
		cfg.Password = DefaultPasswordParams
	}
	if cfg.UserThrottle == nil {
		cfg.UserThrottle = NewMemoryThrottle(ThrottleConfig{MaxFailures: 5, Window: 15 * time.Minute})
	}
	if cfg.AddrThrottle == nil {
		cfg.AddrThrottle = NewMemoryThrottle(ThrottleConfig{MaxFailures: 20, Window: 15 * time.Minute})
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	candidate := make([]byte, 32)
	if _, err := rand.Read(candidate); err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	key, err := st.EnsureSigningKey(ctx, signingKeyName, candidate)
	if err != nil {
		return nil, fmt.Errorf("auth: load signing key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("auth: stored signing key %q has %d bytes, want at least 32 (delete it to generate a new one; all sessions end)", signingKeyName, len(key))
	}
	dummy, err := HashPassword("kubeward-dummy-password", cfg.Password)
	if err != nil {
		return nil, err
	}
	return &Service{
		st:        st,
		cfg:       cfg,
		codec:     newTokenCodec(key, cfg.Issuer, cfg.Now),
		hashes:    make(hashLimiter, cfg.MaxConcurrentHashes),
		dummyHash: dummy,
	}, nil
}

// Bootstrap creates the first administrator when no user exists. The
// password is read from passwordFile when it is set (trailing newline
// removed), else generated; a generated password is returned so the caller
// can print it once. When users already exist it does nothing and returns
// created=false.
func (s *Service) Bootstrap(ctx context.Context, adminName, passwordFile string) (password string, created bool, err error) {
	n, err := s.st.CountUsers(ctx)
	if err != nil {
		return "", false, fmt.Errorf("auth: bootstrap: count users: %w", err)
	}
	if n > 0 {
		return "", false, nil
	}
	generated := passwordFile == ""
	if generated {
		if password, err = GeneratePassword(); err != nil {
			return "", false, err
		}
	} else {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return "", false, fmt.Errorf("auth: bootstrap: read the admin password file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if _, err := s.CreateUser(ctx, adminName, password, RoleAdmin); err != nil {
		if errors.Is(err, ErrConflict) {
			return "", false, nil // another replica bootstrapped first
		}
		return "", false, fmt.Errorf("auth: bootstrap: %w", err)
	}
	s.cfg.Logger.InfoContext(ctx, "created the first administrator", "user", adminName, "password_from_file", !generated)
	if !generated {
		password = ""
	}
	return password, true, nil
}

// CreateUser adds a user with a password and role.
func (s *Service) CreateUser(ctx context.Context, name, password string, role Role) (User, error) {
	if !userNamePattern.MatchString(name) {
		return User{}, fmt.Errorf("%w: user name %q: use 1-64 lower-case letters, digits and . _ @ - (starting with a letter or digit)", ErrInvalid, name)
	}
	if role < RoleViewer || role > RoleAdmin {
		return User{}, fmt.Errorf("%w: role %s cannot be given to a user", ErrInvalid, role)
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	var hash string
	var herr error
	if err := s.hashes.do(ctx, func() { hash, herr = HashPassword(password, s.cfg.Password) }); err != nil {
		return User{}, err
	}
	if herr != nil {
		return User{}, herr
	}
	u := User{Name: name, Role: role, PasswordHash: hash, CreatedAt: s.cfg.Now().UTC().Truncate(store.TimePrecision)}
	if err := s.st.CreateUser(ctx, u); err != nil {
		return User{}, fmt.Errorf("auth: create user %q: %w", name, err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	us, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return us, nil
}

// throttleKey is the per-address key: IPv6 clients are counted per /64,
// since one host usually holds a whole /64.
func throttleKey(source string) string {
	if ap, err := netip.ParseAddrPort(source); err == nil {
		source = ap.Addr().String()
	}
	a, err := netip.ParseAddr(source)
	if err != nil {
		return source
	}
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}

// Login checks a user's password and returns a token pair. source is the
// client address ("ip" or "ip:port"), used for throttling. Wrong names and
// wrong passwords fail alike with ErrUnauthenticated; too many failures
// return a *ThrottledError.
func (s *Service) Login(ctx context.Context, name, password, source string) (TokenPair, error) {
	now := s.cfg.Now()
	addr := throttleKey(source)
	userWait, err := s.cfg.UserThrottle.Check(ctx, name, now)
	if err != nil {
		loginsTotal.WithLabelValues("error").Inc()
		return TokenPair{}, fmt.Errorf("auth: login: check the user throttle: %w", err)
	}
	addrWait, err := s.cfg.AddrThrottle.Check(ctx, addr, now)
	if err != nil {
		loginsTotal.WithLabelValues("error").Inc()
		return TokenPair{}, fmt.Errorf("auth: login: check the address throttle: %w", err)
	}
	if wait := max(userWait, addrWait); wait > 0 {
		loginsTotal.WithLabelValues("throttled").Inc()
		return TokenPair{}, &ThrottledError{RetryAfter: wait}
	}
	u, err := s.st.GetUser(ctx, name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		loginsTotal.WithLabelValues("error").Inc()
		return TokenPair{}, fmt.Errorf("auth: login: %w", err)
	}
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	var ok bool
	var verr error
	if err := s.hashes.do(ctx, func() { ok, verr = VerifyPassword(password, hash) }); err != nil {
		return TokenPair{}, err
	}
	if verr != nil {
		loginsTotal.WithLabelValues("error").Inc()
		return TokenPair{}, fmt.Errorf("auth: login %q: %w", name, verr)
	}
	if !known || !ok {
		loginsTotal.WithLabelValues("bad_credentials").Inc()
		if known { // unknown names cannot be attacked; don't let them fill the table
			s.throttleErr(ctx, s.cfg.UserThrottle.Fail(ctx, name, now))
		}
		s.throttleErr(ctx, s.cfg.AddrThrottle.Fail(ctx, addr, now))
		return TokenPair{}, fmt.Errorf("%w: wrong user name or password", ErrUnauthenticated)
	}
	s.throttleErr(ctx, s.cfg.UserThrottle.Reset(ctx, name))
	loginsTotal.WithLabelValues("ok").Inc()
	return s.issuePair(u.Name, u.Role, now)
}

// throttleErr logs a failure to record a login outcome in a throttle.
func (s *Service) throttleErr(ctx context.Context, err error) {
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "login throttle update failed", "err", err)
	}
}

func (s *Service) issuePair(name string, role Role, now time.Time) (TokenPair, error) {
	access, acl, err := s.codec.issue(typeAccess, name, role, now, s.cfg.AccessTTL)
	if err != nil {
		return TokenPair{}, err
	}
	refresh, rcl, err := s.codec.issue(typeRefresh, name, role, now, s.cfg.RefreshTTL)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{
		AccessToken:      access,
		RefreshToken:     refresh,
		TokenType:        "Bearer",
		ExpiresIn:        int(s.cfg.AccessTTL / time.Second),
		AccessExpiresAt:  acl.ExpiresAt.UTC(),
		RefreshExpiresAt: rcl.ExpiresAt.UTC(),
	}, nil
}

// Refresh exchanges a refresh token for a new pair. The old refresh token
// is revoked (rotation), and the user is read again so that a changed role
// or a deleted user takes effect.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	cl, err := s.codec.parse(refreshToken, typeRefresh)
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.checkNotRevoked(ctx, cl.ID); err != nil {
		return TokenPair{}, err
	}
	u, err := s.st.GetUser(ctx, cl.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return TokenPair{}, fmt.Errorf("%w: the token's user no longer exists", ErrUnauthenticated)
	}
	if err != nil {
		return TokenPair{}, fmt.Errorf("auth: refresh: %w", err)
	}
	if err := s.st.RevokeToken(ctx, cl.ID, cl.ExpiresAt.Time); err != nil {
		return TokenPair{}, fmt.Errorf("auth: refresh: revoke the used refresh token: %w", err)
	}
	return s.issuePair(u.Name, u.Role, s.cfg.Now())
}

// Logout revokes the caller's access token and, when given, its refresh
// token (which must belong to the same user).
func (s *Service) Logout(ctx context.Context, p Principal, refreshToken string) error {
	if p.Kind != KindUser {
		return fmt.Errorf("%w: only a login session can log out; delete an API token instead", ErrInvalid)
	}
	if refreshToken != "" {
		cl, err := s.codec.parse(refreshToken, typeRefresh)
		if err != nil {
			return err
		}
		if cl.Subject != p.Name {
			return fmt.Errorf("%w: the refresh token belongs to another user", ErrForbidden)
		}
		if err := s.st.RevokeToken(ctx, cl.ID, cl.ExpiresAt.Time); err != nil {
			return fmt.Errorf("auth: logout: revoke refresh token: %w", err)
		}
	}
	if err := s.st.RevokeToken(ctx, p.TokenID, p.ExpiresAt); err != nil {
		return fmt.Errorf("auth: logout: revoke access token: %w", err)
	}
	return nil
}

func (s *Service) checkNotRevoked(ctx context.Context, jti string) error {
	revoked, err := s.st.TokenRevoked(ctx, jti)
	if err != nil {
		return fmt.Errorf("auth: check revocation: %w", err)
	}
	if revoked {
		tokenRejections.WithLabelValues("revoked").Inc()
		return fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	}
	return nil
}

// Authenticate resolves a bearer credential: an API token (prefix
// APITokenPrefix) or a JWT access token. Every refusal wraps
// ErrUnauthenticated; store failures do not.
func (s *Service) Authenticate(ctx context.Context, credential string) (Principal, error) {
	if strings.HasPrefix(credential, APITokenPrefix) {
		return s.authenticateAPIToken(ctx, credential)
	}
	cl, err := s.codec.parse(credential, typeAccess)
	if err != nil {
		return Principal{}, err
	}
	if err := s.checkNotRevoked(ctx, cl.ID); err != nil {
		return Principal{}, err
	}
	return Principal{Name: cl.Subject, Role: cl.Role, Kind: KindUser, TokenID: cl.ID, ExpiresAt: cl.ExpiresAt.Time}, nil
}

func (s *Service) authenticateAPIToken(ctx context.Context, secret string) (Principal, error) {
	if len(secret) > maxTokenLen {
		tokenRejections.WithLabelValues("malformed").Inc()
		return Principal{}, fmt.Errorf("%w: API token too long", ErrUnauthenticated)
	}
	t, err := s.st.GetAPITokenByHash(ctx, hashAPIToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		tokenRejections.WithLabelValues("unknown_api_token").Inc()
		return Principal{}, fmt.Errorf("%w: unknown API token", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: look up API token: %w", err)
	}
	if t.Expired(s.cfg.Now()) {
		tokenRejections.WithLabelValues("expired").Inc()
		return Principal{}, fmt.Errorf("%w: API token expired", ErrUnauthenticated)
	}
	return Principal{Name: t.Owner, Role: t.Role, Kind: KindToken, TokenID: t.ID, ExpiresAt: t.ExpiresAt}, nil
}

func hashAPIToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateAPIToken issues a token named name for p with role (at most p's
// role), valid for ttl (0: no expiry). The secret is returned once and
// never stored.
func (s *Service) CreateAPIToken(ctx context.Context, p Principal, name string, role Role, ttl time.Duration) (string, APIToken, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || len(name) > 100:
		return "", APIToken{}, fmt.Errorf("%w: token name must have 1-100 characters", ErrInvalid)
	case role < RoleViewer || role > RoleAdmin:
		return "", APIToken{}, fmt.Errorf("%w: role %s cannot be given to a token", ErrInvalid, role)
	case !p.Role.Allows(role):
		return "", APIToken{}, fmt.Errorf("%w: a %s cannot create a token with role %s", ErrForbidden, p.Role, role)
	case ttl < 0:
		return "", APIToken{}, fmt.Errorf("%w: token lifetime must not be negative", ErrInvalid)
	}
	id, err := randomID(8)
	if err != nil {
		return "", APIToken{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", APIToken{}, fmt.Errorf("auth: read random token: %w", err)
	}
	secret := APITokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := s.cfg.Now().UTC().Truncate(store.TimePrecision)
	t := APIToken{ID: id, Name: name, Owner: p.Name, Role: role, Hash: hashAPIToken(secret), CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := s.st.CreateAPIToken(ctx, t); err != nil {
		return "", APIToken{}, fmt.Errorf("auth: create API token: %w", err)
	}
	return secret, t, nil
}

// ListAPITokens returns the tokens p may see: all for an admin, else p's
// own.
func (s *Service) ListAPITokens(ctx context.Context, p Principal) ([]APIToken, error) {
	owner := p.Name
	if p.Role.Allows(RoleAdmin) {
		owner = ""
	}
	ts, err := s.st.ListAPITokens(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("auth: list API tokens: %w", err)
	}
	return ts, nil
}

// DeleteAPIToken deletes token id; only its owner or an admin may. A token
// p may not see is reported as not found.
func (s *Service) DeleteAPIToken(ctx context.Context, p Principal, id string) error {
	ts, err := s.ListAPITokens(ctx, p)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID == id {
			if err := s.st.DeleteAPIToken(ctx, id); err != nil {
				return fmt.Errorf("auth: delete API token %s: %w", id, err)
			}
			return nil
		}
	}
	return fmt.Errorf("API token %q: %w", id, store.ErrNotFound)
}

// Record appends an audit entry. Failures are logged and counted, and
// returned.
func (s *Service) Record(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.cfg.Now()
	}
	e.Time = e.Time.UTC().Truncate(store.TimePrecision)
	if err := s.st.AppendAudit(ctx, e); err != nil {
		auditErrors.Inc()
		s.cfg.Logger.ErrorContext(ctx, "audit log write failed", "actor", e.Actor, "action", e.Action, "status", e.Status, "err", err)
		return fmt.Errorf("auth: append audit entry: %w", err)
	}
	return nil
}

// AuditLog returns the entries q selects, newest first, and the total.
func (s *Service) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, int, error) {
	es, n, err := s.st.ListAudit(ctx, q)
	if err != nil {
		return nil, 0, fmt.Errorf("auth: list audit log: %w", err)
	}
	return es, n, nil
}

// PurgeRevoked drops expired deny-list entries; call it periodically.
func (s *Service) PurgeRevoked(ctx context.Context) (int64, error) {
	n, err := s.st.PurgeRevokedTokens(ctx, s.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("auth: purge revoked tokens: %w", err)
	}
	return n, nil
}

// PurgeRevokedEvery calls PurgeRevoked every interval until ctx ends,
// logging failures; run it in its own goroutine.
func (s *Service) PurgeRevokedEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.PurgeRevoked(ctx); err != nil {
				s.cfg.Logger.WarnContext(ctx, "purging expired revoked tokens failed", "err", err)
			} else if n > 0 {
				s.cfg.Logger.DebugContext(ctx, "purged expired revoked tokens", "count", n)
			}
		}
	}
}
