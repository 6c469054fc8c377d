package crowdsec

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrForbidden is returned by BouncerStore.Authenticate for an unknown key.
var ErrForbidden = errors.New("access forbidden")

// ErrBouncerExists is returned by BouncerStore.Add when the name or the key
// is already registered.
var ErrBouncerExists = errors.New("bouncer already registered")

// MinKeyLength is the shortest API key BouncerStore.Add accepts.
const MinKeyLength = 16

// Bouncer is a registered bouncer and its stream cursor.
type Bouncer struct {
	// Name identifies the bouncer (unique).
	Name string
	// KeyHash is the hex SHA-256 of its API key; keys are never stored.
	KeyHash string
	// Cursor is where its last successful stream poll ended.
	Cursor Cursor
}

// Cursor is a bouncer's stream position: the time of its last successful
// poll and the highest decision ID it has been sent.
type Cursor struct {
	// LastPull is when the last successful stream poll started.
	LastPull time.Time
	// LastID is the highest decision ID visible at LastPull.
	LastID int64
}

// BouncerStore keeps bouncers and their cursors.
type BouncerStore interface {
	// Add registers a bouncer with the given API key (only its hash is
	// kept). The name must be new and the key at least MinKeyLength
	// characters; a taken name or key returns an error wrapping
	// ErrBouncerExists.
	Add(ctx context.Context, name, key string) error
	// Authenticate returns the bouncer owning key, or ErrForbidden.
	Authenticate(ctx context.Context, key string) (Bouncer, error)
	// SetCursor records a successful stream poll of the named bouncer.
	SetCursor(ctx context.Context, name string, c Cursor) error
}

// HashKey returns the hex SHA-256 of an API key. API keys are 256-bit random
// strings, so a fast hash is sufficient (no password stretching needed).
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// GenerateKey returns a new random API key (43 URL-safe characters).
func GenerateKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("crowdsec: generate api key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// MemoryBouncers is an in-memory BouncerStore.
type MemoryBouncers struct {
	mu     sync.RWMutex
	byHash map[string]*Bouncer
	byName map[string]*Bouncer
}

// NewMemoryBouncers returns an empty MemoryBouncers.
func NewMemoryBouncers() *MemoryBouncers {
	return &MemoryBouncers{byHash: map[string]*Bouncer{}, byName: map[string]*Bouncer{}}
}

// Add implements BouncerStore.
func (m *MemoryBouncers) Add(ctx context.Context, name, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckBouncer(name, key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byName[name]; ok {
		return fmt.Errorf("crowdsec: add bouncer %q: %w: a bouncer with this name exists; choose another name", name, ErrBouncerExists)
	}
	h := HashKey(key)
	if _, ok := m.byHash[h]; ok {
		return fmt.Errorf("crowdsec: add bouncer %q: %w: this key is already in use; generate a new one", name, ErrBouncerExists)
	}
	b := &Bouncer{Name: name, KeyHash: h}
	m.byHash[h] = b
	m.byName[name] = b
	return nil
}

// Authenticate implements BouncerStore.
func (m *MemoryBouncers) Authenticate(ctx context.Context, key string) (Bouncer, error) {
	if err := ctx.Err(); err != nil {
		return Bouncer{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.byHash[HashKey(key)]
	if !ok || key == "" {
		return Bouncer{}, ErrForbidden
	}
	return *b, nil
}

// SetCursor implements BouncerStore.
func (m *MemoryBouncers) SetCursor(ctx context.Context, name string, c Cursor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.byName[name]
	if !ok {
		return fmt.Errorf("crowdsec: set cursor of bouncer %q: no such bouncer", name)
	}
	b.Cursor = c
	return nil
}

// CheckBouncer validates the arguments of BouncerStore.Add; every
// implementation calls it first.
func CheckBouncer(name, key string) error {
	if name == "" || len(key) < MinKeyLength {
		return fmt.Errorf("crowdsec: add bouncer %q: a name and a key of at least %d characters are required (use GenerateKey)", name, MinKeyLength)
	}
	return nil
}
