// Package auth is kubeward's identity domain: local users with argon2id
// password hashes, short-lived JWT access tokens with refresh tokens and a
// revocation deny-list, long-lived API tokens for CI, the roles viewer,
// operator and admin, login throttling, external login through an
// IdentityProvider (OpenID Connect: package oidclogin), and the audit log.
// It knows nothing about HTTP; internal/api adapts it to requests.
//
// One replica keeps its login throttles in memory and its deny-list in the
// store, cached in memory (RevocationCache). Several replicas share both
// through Redis (NewRedisThrottle, NewRedisRevocations): throttle counters
// are updated by Lua scripts, revocations are announced on a pub/sub
// channel and every replica re-reads the full list periodically, so that
// authenticating a request never waits for the store or Redis.
package auth

import (
	"errors"
	"fmt"
	"time"
)

// Role is what a principal may do. Roles are ordered: each includes the
// rights of the ones below it.
type Role int

// The roles, lowest first. RoleAnonymous is no role at all: a route that
// declares it needs no authentication. The zero Role is none of these, so
// a forgotten role is never mistaken for RoleAnonymous.
const (
	RoleAnonymous Role = iota + 1
	RoleViewer
	RoleOperator
	RoleAdmin
)

var roleNames = [...]string{"unset", "anonymous", "viewer", "operator", "admin"}

// String returns the role's name.
func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("Role(%d)", int(r))
	}
	return roleNames[r]
}

// Allows reports whether a principal holding r may use something that
// requires at least min.
func (r Role) Allows(min Role) bool { return r >= min }

// ParseRole parses "viewer", "operator" or "admin" (the roles a user or
// token can hold).
func ParseRole(s string) (Role, error) {
	for r := RoleViewer; r <= RoleAdmin; r++ {
		if s == roleNames[r] {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: role %q: want viewer, operator or admin", ErrInvalid, s)
}

// MarshalText encodes the role as its name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a role name (viewer, operator or admin).
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Errors returned by the service. Callers test them with errors.Is.
var (
	// ErrUnauthenticated means the credentials or token were wrong, expired
	// or revoked. Its message never says which, to give nothing away.
	ErrUnauthenticated = errors.New("auth: not authenticated")
	// ErrForbidden means the principal's role does not allow the operation.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrInvalid means the input was malformed (bad name, weak password).
	ErrInvalid = errors.New("auth: invalid input")
	// ErrConflict means the user or token already exists.
	ErrConflict = errors.New("auth: already exists")
	// ErrThrottled means too many failed logins; see ThrottledError.
	ErrThrottled = errors.New("auth: too many failed logins")
)

// ThrottledError says how long a throttled caller must wait. It matches
// ErrThrottled with errors.Is.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many failed logins: retry in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// User is a local account.
type User struct {
	Name string
	Role Role
	// PasswordHash is the argon2id hash in PHC string form; never exposed.
	PasswordHash string
	CreatedAt    time.Time
}

// APIToken is a long-lived token for automation. Only the SHA-256 hash of
// the secret is stored; the secret is shown once, when it is created.
type APIToken struct {
	ID        string
	Name      string
	Owner     string
	Role      Role
	Hash      []byte
	CreatedAt time.Time
	// ExpiresAt is the zero time for a token that does not expire.
	ExpiresAt time.Time
}

// Expired reports whether the token is past its expiry at now.
func (t APIToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// AuditEntry records one mutating call or login attempt.
type AuditEntry struct {
	ID int64
	// Time is when the call was answered.
	Time time.Time
	// Actor is the user name, "token:<id>" for API tokens, or the name a
	// failed login gave.
	Actor string
	// Action is the method and route pattern, e.g. "POST /api/v1/users".
	Action string
	// Target is the request path.
	Target string
	// Status is the HTTP status answered.
	Status int
	// Source is the client address.
	Source string
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	// Actor, when set, keeps only that actor's entries.
	Actor string
	// Since, when set, keeps entries at or after it.
	Since  time.Time
	Limit  int
	Offset int
}

// Kind says how a principal authenticated.
type Kind string

// The principal kinds.
const (
	KindUser  Kind = "user"
	KindToken Kind = "token"
	// KindLocal is the fixed principal used when authentication is disabled.
	KindLocal Kind = "local"
)

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role Role
	Kind Kind
	// TokenID is the API token's ID (KindToken) or the access token's JWT
	// ID (KindUser).
	TokenID string
	// ExpiresAt is when the credential expires (zero: never).
	ExpiresAt time.Time
}

// Actor is the name the audit log records for the principal.
func (p Principal) Actor() string {
	if p.Kind == KindToken {
		return "token:" + p.TokenID
	}
	return p.Name
}
