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
	// SharedRevocations, when set, shares revoked token IDs with other
	// replicas as they are revoked (NewRedisRevocations). Revocations are
	// always written to the store as well, which stays the durable record.
	SharedRevocations RevocationSource
	// RevocationRefresh is how often the in-memory deny-list is re-read
	// from the store and SharedRevocations: the longest a revocation made
	// on another replica can go unnoticed when its announcement is lost or
	// nothing announces it (replicas sharing only the database). Default
	// 30 seconds. See RevocationCache.
	RevocationRefresh time.Duration
	// IdentityProvider, when set, enables external login (OIDC, package
	// oidclogin): BeginExternalLogin and FinishExternalLogin.
	IdentityProvider IdentityProvider
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
	// revoked is the in-memory deny-list checked on every request.
	revoked *RevocationCache
	// sealer signs the state of external logins.
	sealer stateSealer
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
		cfg.UserThrottle = NewMemoryThrottle(DefaultUserThrottle)
	}
	if cfg.AddrThrottle == nil {
		cfg.AddrThrottle = NewMemoryThrottle(DefaultAddrThrottle)
	}
	if cfg.RevocationRefresh <= 0 {
		cfg.RevocationRefresh = 30 * time.Second
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
	sources := []RevocationSource{StoreRevocations(st)}
	if cfg.SharedRevocations != nil {
		sources = append(sources, cfg.SharedRevocations)
	}
	revoked := NewRevocationCache(cfg.RevocationRefresh, cfg.Now, cfg.Logger, sources...)
	if err := revoked.Sync(ctx); err != nil {
		// Serving without the deny-list would accept revoked tokens.
		return nil, fmt.Errorf("%w (check the database and the Redis connection)", err)
	}
	return &Service{
		st:        st,
		cfg:       cfg,
		codec:     newTokenCodec(key, cfg.Issuer, cfg.Now),
		hashes:    make(hashLimiter, cfg.MaxConcurrentHashes),
		revoked:   revoked,
		sealer:    newStateSealer(key),
		dummyHash: dummy,
	}, nil
}

// SyncRevocations keeps the in-memory deny-list in step with the store
// and SharedRevocations until ctx ends (see RevocationCache.Run). Run it in
// its own goroutine on every replica.
func (s *Service) SyncRevocations(ctx context.Context) { s.revoked.Run(ctx) }

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
	u, result, err := s.checkPassword(ctx, name, password, source, now)
	loginsTotal.WithLabelValues(result).Inc()
	if err != nil {
		return TokenPair{}, fmt.Errorf("auth: login: %w", err)
	}
	return s.issuePair(u.Name, u.Role, now)
}

// checkPassword verifies name's password under the login throttles and
// returns the user, the outcome for kubeward_auth_logins_total, and an
// error: ErrUnauthenticated for a wrong name or password (alike), a
// *ThrottledError, or an operational error. A password hashed with other
// parameters than Config.Password is rehashed.
//
// The throttles are checked and updated while holding a hash slot, so at
// most MaxConcurrentHashes attempts per replica are between the check and
// the recorded failure: a burst of parallel guesses gets no more than the
// limit plus that many, where checking before queueing for a slot would
// let every queued guess through.
func (s *Service) checkPassword(ctx context.Context, name, password, source string, now time.Time) (User, string, error) {
	var u User
	var result string
	var err error
	if derr := s.hashes.do(ctx, func() { u, result, err = s.verifyThrottled(ctx, name, password, throttleKey(source), now) }); derr != nil {
		return User{}, "error", derr
	}
	if err != nil {
		return User{}, result, err
	}
	s.rehash(ctx, u, password)
	return u, result, nil
}

// verifyThrottled is checkPassword's work under a hash slot.
func (s *Service) verifyThrottled(ctx context.Context, name, password, addr string, now time.Time) (User, string, error) {
	userWait, err := s.cfg.UserThrottle.Check(ctx, name, now)
	if err != nil {
		return User{}, "error", fmt.Errorf("check the user throttle: %w", err)
	}
	addrWait, err := s.cfg.AddrThrottle.Check(ctx, addr, now)
	if err != nil {
		return User{}, "error", fmt.Errorf("check the address throttle: %w", err)
	}
	if wait := max(userWait, addrWait); wait > 0 {
		return User{}, "throttled", &ThrottledError{RetryAfter: wait}
	}
	u, err := s.st.GetUser(ctx, name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return User{}, "error", err
	}
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, err := VerifyPassword(password, hash)
	if err != nil {
		return User{}, "error", fmt.Errorf("user %q: %w", name, err)
	}
	if !known || !ok {
		if known { // unknown names cannot be attacked; don't let them fill the table
			s.throttleErr(ctx, s.cfg.UserThrottle.Fail(ctx, name, now))
		}
		s.throttleErr(ctx, s.cfg.AddrThrottle.Fail(ctx, addr, now))
		return User{}, "bad_credentials", fmt.Errorf("%w: wrong user name or password", ErrUnauthenticated)
	}
	s.throttleErr(ctx, s.cfg.UserThrottle.Reset(ctx, name))
	return u, "ok", nil
}

// rehash replaces u's password hash when it was made with other
// parameters than Config.Password, so that raising the cost reaches every
// user at their next login. Failures are logged and counted: the login
// itself succeeded.
func (s *Service) rehash(ctx context.Context, u User, password string) {
	if !NeedsRehash(u.PasswordHash, s.cfg.Password) {
		return
	}
	var hash string
	var herr error
	if err := s.hashes.do(ctx, func() { hash, herr = HashPassword(password, s.cfg.Password) }); err != nil || herr != nil {
		rehashes.WithLabelValues("error").Inc()
		s.cfg.Logger.WarnContext(ctx, "rehashing a password with the new parameters failed", "user", u.Name, "err", errors.Join(err, herr))
		return
	}
	if err := s.st.ReplacePasswordHash(ctx, u.Name, u.PasswordHash, hash); err != nil {
		// ErrConflict: the password changed meanwhile; the new one wins.
		rehashes.WithLabelValues("error").Inc()
		s.cfg.Logger.WarnContext(ctx, "storing a rehashed password failed", "user", u.Name, "err", err)
		return
	}
	rehashes.WithLabelValues("ok").Inc()
	s.cfg.Logger.InfoContext(ctx, "rehashed a password with the current argon2id parameters", "user", u.Name)
}

// userRevocationPrefix starts the deny-list keys that end every session of
// a user ("user:<name>"); JWT IDs are hex and never contain ':'. Such an
// entry refuses the user's tokens issued before its expiry minus
// Config.RefreshTTL, by when every one of them has expired anyway, so all
// replicas must run with the same RefreshTTL.
const userRevocationPrefix = "user:"

// endSessions refuses every access and refresh token of name issued up to
// now (rounded up to the second, the resolution of a token's iat: logins
// within the rest of that second are refused too).
func (s *Service) endSessions(ctx context.Context, name string, now time.Time) error {
	cutoff := now.Truncate(time.Second).Add(time.Second)
	return s.revoked.Revoke(ctx, userRevocationPrefix+name, cutoff.Add(s.cfg.RefreshTTL))
}

// DeleteUser deletes the local user called name with its API tokens, and
// ends its sessions. Only an admin may, and not the last admin.
func (s *Service) DeleteUser(ctx context.Context, p Principal, name string) error {
	if !p.Role.Allows(RoleAdmin) {
		return fmt.Errorf("%w: only an admin may delete users", ErrForbidden)
	}
	us, err := s.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("auth: delete user %q: %w", name, err)
	}
	admins, target := 0, -1
	for i, u := range us {
		if u.Role == RoleAdmin {
			admins++
		}
		if u.Name == name {
			target = i
		}
	}
	if target < 0 {
		return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if us[target].Role == RoleAdmin && admins == 1 {
		return fmt.Errorf("%w: %q is the last administrator; create another one first", ErrInvalid, name)
	}
	if err := s.st.DeleteUser(ctx, name); err != nil {
		return fmt.Errorf("auth: delete user %q: %w", name, err)
	}
	if err := s.endSessions(ctx, name, s.cfg.Now()); err != nil {
		return fmt.Errorf("auth: user %q is deleted, but ending its sessions failed (they end within %s): %w", name, s.cfg.RefreshTTL, err)
	}
	return nil
}

// ChangePassword sets name's password. Users changing their own give
// the current password (checked under the login throttles; source is the
// client address); an admin may set anyone else's without it. Every
// access and refresh token of the user is refused afterwards — the user
// logs in again; API tokens stay valid (delete them separately).
func (s *Service) ChangePassword(ctx context.Context, p Principal, name, current, replacement, source string) error {
	self := p.Name == name && p.Kind != KindLocal
	if !self && !p.Role.Allows(RoleAdmin) {
		return fmt.Errorf("%w: only an admin may change another user's password", ErrForbidden)
	}
	if err := CheckPassword(replacement); err != nil {
		return err
	}
	now := s.cfg.Now()
	var u User
	var err error
	if self {
		if u, _, err = s.checkPassword(ctx, name, current, source, now); err != nil {
			return fmt.Errorf("auth: change password: the current password: %w", err)
		}
	} else if u, err = s.st.GetUser(ctx, name); err != nil {
		return fmt.Errorf("auth: change the password of %q: %w", name, err)
	}
	var hash string
	var herr error
	if err := s.hashes.do(ctx, func() { hash, herr = HashPassword(replacement, s.cfg.Password) }); err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	// u.PasswordHash may have been rehashed by checkPassword: read it again.
	if self {
		if u, err = s.st.GetUser(ctx, name); err != nil {
			return fmt.Errorf("auth: change the password of %q: %w", name, err)
		}
	}
	if err := s.st.ReplacePasswordHash(ctx, name, u.PasswordHash, hash); err != nil {
		return fmt.Errorf("auth: change the password of %q: %w", name, err)
	}
	if err := s.endSessions(ctx, name, now); err != nil {
		return fmt.Errorf("auth: the password of %q is changed, but ending its sessions failed (they end within %s): %w", name, s.cfg.RefreshTTL, err)
	}
	return nil
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
// is revoked (rotation), and a local user is read again so that a changed
// role or a deleted user takes effect. A user of an IdentityProvider is not
// stored: the new pair keeps the role of the login, so a change at the
// provider takes effect at the next login through it, at the latest when
// the refresh token expires (Config.RefreshTTL, default 24 hours).
func (s *Service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	cl, err := s.codec.parse(refreshToken, typeRefresh)
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.checkNotRevoked(cl); err != nil {
		return TokenPair{}, err
	}
	name, role := cl.Subject, cl.Role
	if !isExternalUser(name) {
		u, err := s.st.GetUser(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return TokenPair{}, fmt.Errorf("%w: the token's user no longer exists", ErrUnauthenticated)
		}
		if err != nil {
			return TokenPair{}, fmt.Errorf("auth: refresh: %w", err)
		}
		name, role = u.Name, u.Role
	}
	if err := s.revoked.Revoke(ctx, cl.ID, cl.ExpiresAt.Time); err != nil {
		return TokenPair{}, fmt.Errorf("auth: refresh: revoke the used refresh token: %w", err)
	}
	return s.issuePair(name, role, s.cfg.Now())
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
		if err := s.revoked.Revoke(ctx, cl.ID, cl.ExpiresAt.Time); err != nil {
			return fmt.Errorf("auth: logout: revoke refresh token: %w", err)
		}
	}
	if err := s.revoked.Revoke(ctx, p.TokenID, p.ExpiresAt); err != nil {
		return fmt.Errorf("auth: logout: revoke access token: %w", err)
	}
	return nil
}

// checkNotRevoked refuses a revoked token, or one of a user whose
// sessions were ended after it was issued; it reads only memory.
func (s *Service) checkNotRevoked(cl claims) error {
	if exp, ok := s.revoked.expiry(userRevocationPrefix + cl.Subject); ok && cl.IssuedAt != nil && cl.IssuedAt.Before(exp.Add(-s.cfg.RefreshTTL)) {
		tokenRejections.WithLabelValues("revoked").Inc()
		return fmt.Errorf("%w: the user's sessions were ended", ErrUnauthenticated)
	}
	if s.revoked.IsRevoked(cl.ID) {
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
	if err := s.checkNotRevoked(cl); err != nil {
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
