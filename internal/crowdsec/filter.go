package crowdsec

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrInvalidFilter is wrapped by every error of ParseDecisionsQuery and
// ParseStreamQuery.
var ErrInvalidFilter = errors.New("invalid filter")

// Filter selects decisions. The zero Filter matches every decision that is
// not simulated.
type Filter struct {
	// Scopes, when not empty, keeps decisions whose scope is one of them.
	Scopes []string
	// Value, when set, keeps decisions with exactly this value.
	Value string
	// Type, when set, keeps decisions of this type.
	Type string
	// Origins, when not empty, keeps decisions from one of these origins.
	Origins []string
	// ScenariosContaining, when not empty, keeps decisions whose scenario
	// contains one of these substrings.
	ScenariosContaining []string
	// ScenariosNotContaining drops decisions whose scenario contains one of
	// these substrings.
	ScenariosNotContaining []string
	// Target, when valid, keeps decisions whose range contains Target
	// (Contains true, CrowdSec's default) or is contained in it.
	Target netip.Prefix
	// Contains selects the Target relation; see Target.
	Contains bool
	// Simulated also keeps simulated decisions.
	Simulated bool
}

// Match reports whether d passes f.
func (f *Filter) Match(d *Decision) bool {
	if d.Simulated && !f.Simulated {
		return false
	}
	if len(f.Scopes) > 0 && !containsString(f.Scopes, d.Scope) {
		return false
	}
	if f.Value != "" && d.Value != f.Value {
		return false
	}
	if f.Type != "" && d.Type != f.Type {
		return false
	}
	if len(f.Origins) > 0 && !containsString(f.Origins, d.Origin) {
		return false
	}
	if len(f.ScenariosContaining) > 0 && !containsSubstring(d.Scenario, f.ScenariosContaining) {
		return false
	}
	if len(f.ScenariosNotContaining) > 0 && containsSubstring(d.Scenario, f.ScenariosNotContaining) {
		return false
	}
	if f.Target.IsValid() {
		if f.Contains {
			return prefixCovers(d.prefix, f.Target)
		}
		return prefixCovers(f.Target, d.prefix)
	}
	return true
}

// prefixCovers reports whether outer contains every address of inner.
func prefixCovers(outer, inner netip.Prefix) bool {
	if !outer.IsValid() || !inner.IsValid() || outer.Addr().BitLen() != inner.Addr().BitLen() {
		return false
	}
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsSubstring(s string, subs []string) bool {
	for _, v := range subs {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// ParseDecisionsQuery parses the query of GET /v1/decisions: scope, value,
// type, ip, range, contains, origin, scenario, simulated. Unknown parameters
// are rejected, as CrowdSec does.
func ParseDecisionsQuery(q url.Values) (Filter, error) {
	f := Filter{Contains: true}
	for key, vals := range q {
		v := ""
		if len(vals) > 0 {
			v = vals[0]
		}
		var err error
		switch key {
		case "scope", "scopes":
			f.Scopes = parseScopes(v)
		case "value":
			f.Value = v
		case "type":
			f.Type = v
		case "origin", "origins":
			f.Origins = splitList(v)
		case "scenario", "scenarios_containing":
			f.ScenariosContaining = splitList(v)
		case "scenarios_not_containing":
			f.ScenariosNotContaining = splitList(v)
		case "ip":
			f.Target, err = ParseTarget(ScopeIP, v)
		case "range":
			f.Target, err = ParseTarget(ScopeRange, v)
		case "contains":
			f.Contains, err = strconv.ParseBool(v)
		case "simulated":
			f.Simulated, err = strconv.ParseBool(v)
		default:
			err = fmt.Errorf("'%s' doesn't exist", key)
		}
		if err != nil {
			return Filter{}, fmt.Errorf("%w: %s: %w", ErrInvalidFilter, key, err)
		}
	}
	return f, nil
}

// ParseStreamQuery parses the query of GET /v1/decisions/stream: startup,
// scopes (default "ip,range"), origins, scenarios_containing,
// scenarios_not_containing; community_pull and additional_pull (sent by
// recent bouncers for CrowdSec's community lists) are accepted and ignored.
func ParseStreamQuery(q url.Values) (f Filter, startup bool, err error) {
	f = Filter{Contains: true, Scopes: []string{ScopeIP, ScopeRange}}
	for key, vals := range q {
		v := ""
		if len(vals) > 0 {
			v = vals[0]
		}
		switch key {
		case "startup":
			startup, err = strconv.ParseBool(v)
		case "scopes":
			f.Scopes = parseScopes(v)
		case "origins":
			f.Origins = splitList(v)
		case "scenarios_containing":
			f.ScenariosContaining = splitList(v)
		case "scenarios_not_containing":
			f.ScenariosNotContaining = splitList(v)
		case "community_pull", "additional_pull":
			_, err = strconv.ParseBool(v)
		default:
			err = fmt.Errorf("'%s' doesn't exist", key)
		}
		if err != nil {
			return Filter{}, false, fmt.Errorf("%w: %s: %w", ErrInvalidFilter, key, err)
		}
	}
	return f, startup, nil
}

// parseScopes splits a comma-separated scope list, mapping "ip" and "range"
// case-insensitively to ScopeIP and ScopeRange and keeping other scopes
// (which match nothing kubeward stores) as given.
func parseScopes(v string) []string {
	list := splitList(v)
	for i, s := range list {
		if n, err := normaliseScope(s); err == nil {
			list[i] = n
		}
	}
	return list
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
