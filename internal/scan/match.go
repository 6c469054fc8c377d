package scan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/kubeward/kubeward/internal/vulndb"
)

// ErrUnsupportedVersion is wrapped by Affects when a version cannot be
// ordered in its ecosystem; the entry is then skipped, never guessed.
var ErrUnsupportedVersion = errors.New("version cannot be compared")

// Affects reports whether version of the package described by af (in the
// ecosystem af names) is affected, and if so which versions fix it (the
// first fixed event above version in each affecting range).
//
// It follows the OSV evaluation rules: a version is affected if it is
// listed in af.Versions or lies in one of af.Ranges. Versions are compared
// with the ecosystem's own ordering (osv-scalibr's semantic package);
// "introduced" opens an interval, "fixed" closes it exclusively,
// "last_affected" inclusively, and a "limit" excludes versions at or above
// it. Events written as (introduced, closing) pairs are read as a union of
// intervals; other event lists are sorted and swept as the OSV schema
// describes. SEMVER ranges use SemVer 2.0 ordering; GIT ranges are ignored (they
// need commit hashes, which inventories do not have).
func Affects(af vulndb.Affected, version string) (affected bool, fixed []string, err error) {
	eco := af.Package.Ecosystem
	if baseEcosystem(eco) == "Go" {
		version = strings.TrimPrefix(version, "v")
	}
	var errs []error
	for _, r := range af.Ranges {
		var ordering string
		switch r.Type {
		case vulndb.RangeEcosystem:
			ordering = eco
		case vulndb.RangeSemver:
			ordering = "Go" // osv-scalibr's SemVer 2.0 ordering
		default:
			continue
		}
		in, fix, err := inRange(r.Events, version, ordering)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if in {
			affected = true
			if fix != "" && !slices.Contains(fixed, fix) {
				fixed = append(fixed, fix)
			}
		}
	}
	if !affected && len(af.Versions) > 0 {
		listed, err := listed(af.Versions, version, eco)
		if err != nil {
			errs = append(errs, err)
		}
		affected = listed
	}
	if affected {
		return true, fixed, nil
	}
	return false, nil, errors.Join(errs...)
}

type event struct {
	kind    string // "introduced", "fixed", "last_affected", "limit"
	version string
	parsed  semantic.Version // nil for introduced "0"
}

func inRange(events []vulndb.Event, version, ordering string) (bool, string, error) {
	v, err := semantic.Parse(version, ordering)
	if err != nil {
		return false, "", fmt.Errorf("%w: %q in %s: %w", ErrUnsupportedVersion, version, ordering, err)
	}
	evs := make([]event, 0, len(events))
	for _, e := range events {
		ev := event{}
		switch {
		case e.Introduced != "":
			ev.kind, ev.version = "introduced", e.Introduced
		case e.Fixed != "":
			ev.kind, ev.version = "fixed", e.Fixed
		case e.LastAffected != "":
			ev.kind, ev.version = "last_affected", e.LastAffected
		case e.Limit != "":
			ev.kind, ev.version = "limit", e.Limit
		default:
			continue
		}
		if ev.kind == "introduced" && ev.version == "0" || ev.kind == "limit" && ev.version == "*" {
			evs = append(evs, ev)
			continue
		}
		p, err := semantic.Parse(ev.version, ordering)
		if err != nil {
			return false, "", fmt.Errorf("%w: %s event %q in %s: %w", ErrUnsupportedVersion, ev.kind, ev.version, ordering, err)
		}
		ev.parsed = p
		evs = append(evs, ev)
	}
	// cmp[i] is the sign of installed − event i; "0" and "*" compare as
	// below and above every version.
	cmp := make([]int, len(evs))
	for i, ev := range evs {
		switch {
		case ev.parsed != nil:
			c, err := v.Compare(ev.parsed)
			if err != nil {
				return false, "", fmt.Errorf("%w: %w", ErrUnsupportedVersion, err)
			}
			cmp[i] = c
		case ev.kind == "introduced":
			cmp[i] = 1
		default:
			cmp[i] = -1
		}
	}
	for i, ev := range evs {
		if ev.kind == "limit" && cmp[i] >= 0 {
			return false, "", nil
		}
	}
	if in, fix, ok := pairedIntervals(evs, cmp); ok {
		return in, fix, nil
	}
	return sweep(evs, cmp)
}

// pairedIntervals evaluates events written as consecutive (introduced,
// closing event) pairs, the form nearly every producer writes, as a union
// of intervals. That form tolerates records whose intervals overlap or are
// listed out of order (PYSEC-2021-114, PYSEC-2022-236), where a single
// sorted sweep goes wrong. ok is false when the events are not in that
// form.
func pairedIntervals(evs []event, cmp []int) (in bool, fix string, ok bool) {
	open := -1
	for i, ev := range evs {
		switch ev.kind {
		case "limit":
			continue
		case "introduced":
			if open >= 0 { // introduced twice in a row: not pairs
				return false, "", false
			}
			open = i
		case "fixed", "last_affected":
			if open < 0 { // a closing event with nothing open
				return false, "", false
			}
			inside := cmp[open] >= 0 && (cmp[i] < 0 || ev.kind == "last_affected" && cmp[i] == 0)
			if inside {
				in = true
				if ev.kind == "fixed" && (fix == "" || lowerFix(evs, i, fix)) {
					fix = ev.version
				}
			}
			open = -1
		}
	}
	if open >= 0 && cmp[open] >= 0 {
		in = true // an open-ended interval: no fix
	}
	return in, fix, true
}

// lowerFix reports whether event i sorts below the fix already chosen.
func lowerFix(evs []event, i int, chosen string) bool {
	c, err := evs[i].parsed.CompareStr(chosen)
	return err == nil && c < 0
}

// sweep is the OSV reference evaluation: sort the events by version (the
// sort is stable, so equal versions keep the record's order) and let the
// last event at or below the installed version decide.
func sweep(evs []event, cmp []int) (bool, string, error) {
	idx := make([]int, len(evs))
	for i := range idx {
		idx[i] = i
	}
	var sortErr error
	slices.SortStableFunc(idx, func(a, b int) int {
		pa, pb := evs[a].parsed, evs[b].parsed
		switch {
		case pa == nil && pb == nil:
			return 0
		case pa == nil:
			return -1
		case pb == nil:
			return 1
		}
		c, err := pa.Compare(pb)
		if err != nil {
			sortErr = err
		}
		return c
	})
	if sortErr != nil {
		return false, "", fmt.Errorf("%w: %w", ErrUnsupportedVersion, sortErr)
	}
	affected := false
	for _, i := range idx {
		switch evs[i].kind {
		case "introduced":
			if cmp[i] >= 0 {
				affected = true
			}
		case "fixed":
			if cmp[i] >= 0 {
				affected = false
			}
		case "last_affected":
			if cmp[i] > 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, "", nil
	}
	// The interval holding the version ends at the first closing event
	// above it; only a "fixed" end names a fix.
	for _, i := range idx {
		ev := evs[i]
		if ev.kind != "fixed" && ev.kind != "last_affected" {
			continue
		}
		if cmp[i] < 0 || ev.kind == "last_affected" && cmp[i] == 0 {
			if ev.kind == "fixed" {
				return true, ev.version, nil
			}
			return true, "", nil
		}
	}
	return true, "", nil
}

// listed reports whether version equals one of versions in the ecosystem's
// ordering (so PyPI "1.0" matches "1.0.0"), or literally when the ecosystem
// has no ordering.
func listed(versions []string, version, eco string) (bool, error) {
	if slices.Contains(versions, version) {
		return true, nil
	}
	var v semantic.Version
	key := prefilterKey(baseEcosystem(eco))
	lead, ok := key(version)
	for _, s := range versions {
		// Versions that are equal in the ecosystem's ordering have the
		// same key; parsing is skipped for the (many) listed versions
		// whose key differs.
		if ok {
			if l, lok := key(s); lok && l != lead {
				continue
			}
		}
		if v == nil {
			var err error
			if v, err = semantic.Parse(version, eco); err != nil {
				return false, nil // the literal comparison above is all we can do
			}
		}
		if c, err := v.CompareStr(s); err == nil && c == 0 {
			return true, nil
		}
	}
	return false, nil
}

// prefilterKey returns the cheap key listed compares before parsing: the
// numeric release segments for ecosystems whose versions start with one
// (PEP 440, SemVer), otherwise the leading number.
func prefilterKey(eco string) func(string) (string, bool) {
	switch eco {
	case "PyPI", "Go", "npm", "crates.io":
		return releaseSegments
	}
	return leadingNumber
}

// releaseSegments returns the dotted numeric prefix of a version without
// leading zeros in each segment and without trailing zero segments
// ("v1.02.0rc1" → "1.2"), which equal PEP 440 and SemVer versions share.
// ok is false for versions with an epoch or without a leading digit.
func releaseSegments(v string) (string, bool) {
	v = strings.TrimLeft(strings.TrimSpace(v), "vV")
	if strings.ContainsAny(v, ":!") || v == "" || v[0] < '0' || v[0] > '9' {
		return "", false
	}
	end := 0
	for end < len(v) && (v[end] == '.' || v[end] >= '0' && v[end] <= '9') {
		end++
	}
	segs := strings.Split(strings.Trim(v[:end], "."), ".")
	for i, sg := range segs {
		if sg = strings.TrimLeft(sg, "0"); sg == "" {
			sg = "0"
		}
		segs[i] = sg
	}
	for len(segs) > 1 && segs[len(segs)-1] == "0" {
		segs = segs[:len(segs)-1]
	}
	return strings.Join(segs, "."), true
}

// leadingNumber returns the first run of digits of a version (after an
// optional "v"), without leading zeros. ok is false for versions that
// carry an epoch ("1:2.3", "1!2.3"), whose leading number is not the
// major version, and for versions that do not start with a digit; such
// versions are always compared in full.
func leadingNumber(v string) (string, bool) {
	v = strings.TrimLeft(strings.TrimSpace(v), "vV")
	if strings.ContainsAny(v, ":!") {
		return "", false
	}
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == 0 {
		return "", false
	}
	n := strings.TrimLeft(v[:end], "0")
	if n == "" {
		n = "0"
	}
	return n, true
}

func baseEcosystem(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}
