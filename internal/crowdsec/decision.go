// Package crowdsec serves kubeward's IP and range bans on a Local API that is
// wire-compatible with CrowdSec's bouncer endpoints (GET /v1/decisions and
// GET /v1/decisions/stream), so existing CrowdSec bouncers (nginx, traefik,
// firewall, …) enforce kubeward's decisions unchanged.
//
// The package holds the decision model, a Store interface with an in-memory
// implementation, a BouncerStore that keeps hashed API keys and per-bouncer
// stream cursors, and the http.Handler.
package crowdsec

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Origin is the origin reported for every decision kubeward creates.
const Origin = "kubeward"

// Decision scopes understood by CrowdSec bouncers.
const (
	// ScopeIP applies a decision to a single IPv4 or IPv6 address.
	ScopeIP = "Ip"
	// ScopeRange applies a decision to a CIDR range.
	ScopeRange = "Range"
)

// Decision types understood by CrowdSec bouncers.
const (
	// TypeBan blocks the target.
	TypeBan = "ban"
	// TypeCaptcha asks the target to solve a captcha.
	TypeCaptcha = "captcha"
)

// ErrInvalidDecision is wrapped by every validation error of a Decision.
var ErrInvalidDecision = errors.New("invalid decision")

// Decision is one remediation (ban, captcha) for an IP or a range.
type Decision struct {
	// ID is assigned by the Store; IDs grow monotonically.
	ID int64
	// UUID is assigned by the Store.
	UUID string
	// Origin is who made the decision; Origin ("kubeward") unless set.
	Origin string
	// Type is TypeBan or TypeCaptcha.
	Type string
	// Scope is ScopeIP or ScopeRange.
	Scope string
	// Value is the address or CIDR range, normalised by Validate.
	Value string
	// Scenario says why the decision was taken (free text, shown by bouncers).
	Scenario string
	// Simulated decisions are stored but not served to bouncers unless asked.
	Simulated bool
	// CreatedAt is when the Store accepted the decision.
	CreatedAt time.Time
	// Until is when the decision stops applying. Deleting a decision sets
	// Until to the deletion time, so bouncers learn of it as deleted.
	Until time.Time

	prefix netip.Prefix
}

// Prefix returns the address range the decision covers (valid after
// Validate or once stored).
func (d Decision) Prefix() netip.Prefix { return d.prefix }

// Active reports whether the decision applies at now.
func (d Decision) Active(now time.Time) bool { return d.Until.After(now) }

// Validate checks and normalises d in place: the type and scope must be known,
// the value must parse for the scope, and Until must be set. It fills Origin
// when empty.
func (d *Decision) Validate() error {
	switch d.Type {
	case TypeBan, TypeCaptcha:
	default:
		return fmt.Errorf("%w: type %q is not supported, use %q or %q", ErrInvalidDecision, d.Type, TypeBan, TypeCaptcha)
	}
	scope, err := normaliseScope(d.Scope)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDecision, err)
	}
	p, err := ParseTarget(scope, d.Value)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDecision, err)
	}
	if d.Until.IsZero() {
		return fmt.Errorf("%w: until (expiry) is not set; every decision needs a TTL", ErrInvalidDecision)
	}
	if d.Origin == "" {
		d.Origin = Origin
	}
	d.Scope = scope
	d.prefix = p
	if scope == ScopeIP {
		d.Value = p.Addr().String()
	} else {
		d.Value = p.String()
	}
	return nil
}

// normaliseScope maps a scope, case-insensitively as CrowdSec does, to
// ScopeIP or ScopeRange.
func normaliseScope(s string) (string, error) {
	switch strings.ToLower(s) {
	case "ip":
		return ScopeIP, nil
	case "range":
		return ScopeRange, nil
	}
	return "", fmt.Errorf("scope %q is not supported, use %q or %q", s, ScopeIP, ScopeRange)
}

// ParseTarget parses value for scope (ScopeIP or ScopeRange) into the
// address range it covers. An IP becomes a /32 or /128 prefix; IPv4-mapped
// IPv6 addresses are unmapped; a range is masked to its network address.
func ParseTarget(scope, value string) (netip.Prefix, error) {
	switch scope {
	case ScopeIP:
		a, err := netip.ParseAddr(value)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("value %q is not an IP address: %w", value, err)
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), nil
	case ScopeRange:
		p, err := netip.ParsePrefix(value)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("value %q is not a CIDR range (e.g. 10.0.0.0/8): %w", value, err)
		}
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, fmt.Errorf("value %q: an IPv4-mapped range needs at least 96 bits", value)
			}
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), nil
	}
	return netip.Prefix{}, fmt.Errorf("scope %q is not supported, use %q or %q", scope, ScopeIP, ScopeRange)
}
