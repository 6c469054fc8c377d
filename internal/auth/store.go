package auth

import (
	"context"
	"time"
)

// Store persists users, API tokens, revoked token IDs, the signing key and
// the audit log. *sqlite.Store and *postgres.Store implement it; the
// contract test suite is in package authtest. Lookups of missing rows return
// an error wrapping store.ErrNotFound; inserts of existing keys return an
// error wrapping ErrConflict.
type Store interface {
	// CreateUser adds u; ErrConflict when the name is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user called name.
	GetUser(ctx context.Context, name string) (User, error)
	// ListUsers returns all users ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int, error)
	// DeleteUser removes the user called name and the API tokens it
	// owns, in one transaction.
	DeleteUser(ctx context.Context, name string) error
	// ReplacePasswordHash sets name's password hash to replacement if it
	// is still old (compare-and-set, so a rehash never undoes a concurrent
	// password change); ErrConflict when it is not.
	ReplacePasswordHash(ctx context.Context, name, old, replacement string) error

	// CreateAPIToken adds t; ErrConflict when its ID or hash exists.
	CreateAPIToken(ctx context.Context, t APIToken) error
	// GetAPITokenByHash returns the token whose secret hashes to hash.
	GetAPITokenByHash(ctx context.Context, hash []byte) (APIToken, error)
	// ListAPITokens returns owner's tokens, or all tokens when owner is
	// empty, ordered by creation time then ID.
	ListAPITokens(ctx context.Context, owner string) ([]APIToken, error)
	// DeleteAPIToken removes the token with id.
	DeleteAPIToken(ctx context.Context, id string) error

	// RevokeToken puts a JWT ID on the deny-list until expiresAt.
	RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error
	// TokenRevoked reports whether jti is on the deny-list.
	TokenRevoked(ctx context.Context, jti string) (bool, error)
	// ListRevokedTokens returns the deny-list entries that have not
	// expired at now (expiry at or after now), ordered by JWT ID.
	ListRevokedTokens(ctx context.Context, now time.Time) ([]Revocation, error)
	// PurgeRevokedTokens drops deny-list entries that expired before now
	// and returns how many it dropped.
	PurgeRevokedTokens(ctx context.Context, now time.Time) (int64, error)

	// EnsureSigningKey stores candidate under name unless a key is already
	// stored there, and returns the stored key. Concurrent first starts
	// agree on one key.
	EnsureSigningKey(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// AppendAudit adds e (ID and a zero Time are assigned by the store).
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns the entries q selects, newest first, and how many
	// match in all.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, int, error)
}
