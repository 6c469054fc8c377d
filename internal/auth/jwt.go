package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types carried in the "typ" claim, so a refresh token is never
// accepted as an access token or the reverse.
const (
	typeAccess  = "access"
	typeRefresh = "refresh"
)

// maxTokenLen bounds the bytes parsed as a JWT.
const maxTokenLen = 4096

// claims are kubeward's JWT claims.
type claims struct {
	Role Role   `json:"role"`
	Type string `json:"typ"`
	jwt.RegisteredClaims
}

// tokenCodec signs and verifies HS256 JWTs with one key.
type tokenCodec struct {
	key    []byte
	issuer string
	parser *jwt.Parser
}

func newTokenCodec(key []byte, issuer string, now func() time.Time) *tokenCodec {
	return &tokenCodec{
		key:    key,
		issuer: issuer,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		),
	}
}

// issue signs a token of typ for subject with role, valid from now for ttl.
func (c *tokenCodec) issue(typ, subject string, role Role, now time.Time, ttl time.Duration) (string, claims, error) {
	jti, err := randomID(16)
	if err != nil {
		return "", claims{}, err
	}
	cl := claims{
		Role: role,
		Type: typ,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{c.issuer},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        jti,
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(c.key)
	if err != nil {
		return "", claims{}, fmt.Errorf("auth: sign %s token: %w", typ, err)
	}
	return s, cl, nil
}

// parse verifies the signature, issuer, audience, times and type of a
// token and returns its claims. Every failure wraps ErrUnauthenticated.
func (c *tokenCodec) parse(token, typ string) (claims, error) {
	var cl claims
	if len(token) > maxTokenLen {
		return cl, fmt.Errorf("%w: token longer than %d bytes", ErrUnauthenticated, maxTokenLen)
	}
	_, err := c.parser.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return c.key, nil })
	if err != nil {
		reason := "invalid"
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			reason = "expired"
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			reason = "bad_signature"
		case errors.Is(err, jwt.ErrTokenMalformed):
			reason = "malformed"
		}
		tokenRejections.WithLabelValues(reason).Inc()
		return cl, fmt.Errorf("%w: %s token: %s", ErrUnauthenticated, typ, strings.ReplaceAll(reason, "_", " "))
	}
	if cl.Type != typ || cl.Subject == "" || cl.ID == "" || cl.Role < RoleViewer || cl.Role > RoleAdmin {
		tokenRejections.WithLabelValues("wrong_claims").Inc()
		return cl, fmt.Errorf("%w: not a valid %s token", ErrUnauthenticated, typ)
	}
	return cl, nil
}

// randomID returns n random bytes in hex.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
