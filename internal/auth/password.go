package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id's cost parameters. They are stored in every
// hash (PHC string form), so changing them affects only new hashes.
type PasswordParams struct {
	// Time is the number of passes over memory.
	Time uint32
	// MemoryKiB is the memory each hash uses, in KiB.
	MemoryKiB uint32
	// Threads is the parallelism (lanes).
	Threads uint8
}

// DefaultPasswordParams are kubeward's argon2id parameters: one pass over
// 64 MiB in one lane. The memory is above both OWASP argon2id options
// (19 MiB with t=2, 46 MiB with t=1) and equals RFC 9106's second
// recommended option; one lane because extra lanes only shorten the wall
// time on idle cores and cost a small server a whole second core per login,
// without making a guess any dearer for an attacker. Service limits
// concurrent hashes to GOMAXPROCS, so a login flood queues instead of
// exhausting memory. BenchmarkHashPasswordParams compares the options.
var DefaultPasswordParams = PasswordParams{Time: 1, MemoryKiB: 64 * 1024, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen is the shortest password accepted, in characters.
	MinPasswordLen = 12
	// MaxPasswordLen bounds the bytes hashed, so huge inputs cost nothing.
	MaxPasswordLen = 1024
	// maxHashMemoryKiB refuses stored hashes that would make a login
	// allocate absurd memory (a tampered database row).
	maxHashMemoryKiB = 1 << 20
)

// CheckPassword says what is wrong with a new password, or nil.
func CheckPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: password is not valid UTF-8", ErrInvalid)
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalid, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: password must have at most %d bytes", ErrInvalid, MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the argon2id hash of pw in PHC string form:
// $argon2id$v=19$m=65536,t=1,p=1$<salt>$<hash> (unpadded base64).
func HashPassword(pw string, p PasswordParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC hash. A malformed hash
// is an error, never a match.
func VerifyPassword(pw, hash string) (bool, error) {
	p, salt, key, err := decodeHash(hash)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether hash was made with other parameters than p
// (or is not a hash this package can read), so that it should be replaced
// at the user's next successful login.
func NeedsRehash(hash string, p PasswordParams) bool {
	got, _, key, err := decodeHash(hash)
	return err != nil || got != p || len(key) != keyLen
}

func decodeHash(hash string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("auth: stored password hash is not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("auth: stored password hash has argon2 version %q, want v=%d", parts[2], argon2.Version)
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil {
		return p, nil, nil, fmt.Errorf("auth: stored password hash parameters %q: %w", parts[3], err)
	}
	if p.Time == 0 || p.Time > 64 || threads == 0 || threads > 255 || p.MemoryKiB < 8*threads || p.MemoryKiB > maxHashMemoryKiB {
		return p, nil, nil, fmt.Errorf("auth: stored password hash parameters %q are out of range", parts[3])
	}
	p.Threads = uint8(threads)
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("auth: stored password hash has a bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, fmt.Errorf("auth: stored password hash has a bad key")
	}
	return p, salt, key, nil
}

// hashLimiter bounds how many argon2id hashes run at once: each holds
// MemoryKiB of memory for its duration.
type hashLimiter chan struct{}

func (l hashLimiter) do(ctx context.Context, f func()) error {
	select {
	case l <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting to verify a password: %w", ctx.Err())
	}
	defer func() { <-l }()
	f()
	return nil
}

// GeneratePassword returns a random password of 24 URL-safe characters
// (144 bits), for the first administrator.
func GeneratePassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: read random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
