// Package vulndb builds and reads kubeward's offline advisory database: one
// self-contained SQLite file holding OSV records (from any ecosystem, JSON or
// YAML) and distro security databases converted to OSV, with their aliases
// linked and a manifest that says where every record came from.
package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxRecordBytes bounds the size of one OSV record; larger inputs are
// rejected before decoding.
const MaxRecordBytes = 8 << 20

// Advisory is an OSV record (https://ossf.github.io/osv-schema/), restricted
// to the fields kubeward stores and matches on. Timestamps are kept as the
// source wrote them; ModifiedTime and WithdrawnTime interpret them.
type Advisory struct {
	// SchemaVersion is the OSV schema version the record declares.
	SchemaVersion string `json:"schema_version,omitempty" yaml:"schema_version,omitempty"`
	// ID is the record identifier (GO-…, PYSEC-…, GHSA-…, ALPINE-CVE-…).
	ID string `json:"id" yaml:"id"`
	// Modified, Published and Withdrawn are RFC 3339 times as written, empty if absent.
	Modified  string `json:"modified,omitempty" yaml:"modified,omitempty"`
	Published string `json:"published,omitempty" yaml:"published,omitempty"`
	Withdrawn string `json:"withdrawn,omitempty" yaml:"withdrawn,omitempty"`
	// Aliases are other IDs of the same vulnerability.
	Aliases []string `json:"aliases,omitempty" yaml:"aliases,omitempty"`
	// Related are IDs of related but different vulnerabilities.
	Related []string `json:"related,omitempty" yaml:"related,omitempty"`
	// Summary and Details describe the vulnerability.
	Summary string `json:"summary,omitempty" yaml:"summary,omitempty"`
	Details string `json:"details,omitempty" yaml:"details,omitempty"`
	// Severity holds scored severities (CVSS vectors).
	Severity []Severity `json:"severity,omitempty" yaml:"severity,omitempty"`
	// Affected lists the packages and versions the record affects.
	Affected []Affected `json:"affected,omitempty" yaml:"affected,omitempty"`
	// References are links to advisories, fixes and reports.
	References []Reference `json:"references,omitempty" yaml:"references,omitempty"`
	// DatabaseSpecific is free-form data of the source database.
	DatabaseSpecific map[string]any `json:"database_specific,omitempty" yaml:"database_specific,omitempty"`
}

// Severity is one OSV severity entry: a scoring system and its vector or score.
type Severity struct {
	Type  string `json:"type" yaml:"type"`
	Score string `json:"score" yaml:"score"`
}

// Reference is one OSV reference link.
type Reference struct {
	Type string `json:"type" yaml:"type"`
	URL  string `json:"url" yaml:"url"`
}

// Affected names one package and the versions of it that a record affects.
type Affected struct {
	Package          Package        `json:"package" yaml:"package"`
	Severity         []Severity     `json:"severity,omitempty" yaml:"severity,omitempty"`
	Ranges           []Range        `json:"ranges,omitempty" yaml:"ranges,omitempty"`
	Versions         []string       `json:"versions,omitempty" yaml:"versions,omitempty"`
	DatabaseSpecific map[string]any `json:"database_specific,omitempty" yaml:"database_specific,omitempty"`
}

// Package identifies a package within an OSV ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem" yaml:"ecosystem"`
	Name      string `json:"name" yaml:"name"`
	PURL      string `json:"purl,omitempty" yaml:"purl,omitempty"`
}

// Range types defined by the OSV schema.
const (
	RangeSemver    = "SEMVER"
	RangeEcosystem = "ECOSYSTEM"
	RangeGit       = "GIT"
)

// Range is an OSV affected range: a type and an ordered list of events.
type Range struct {
	Type   string  `json:"type" yaml:"type"`
	Repo   string  `json:"repo,omitempty" yaml:"repo,omitempty"`
	Events []Event `json:"events" yaml:"events"`
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty" yaml:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty" yaml:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty" yaml:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty" yaml:"limit,omitempty"`
}

// Format is the serialisation of an OSV record.
type Format int

// Supported record formats.
const (
	FormatJSON Format = iota
	FormatYAML
)

// ErrInvalidRecord is wrapped by every error that rejects a record's content.
var ErrInvalidRecord = errors.New("invalid OSV record")

// DecodeAdvisory parses one OSV record in the given format and validates it.
// Unknown fields are ignored, as the OSV schema allows.
func DecodeAdvisory(data []byte, f Format) (*Advisory, error) {
	if len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds the %d byte limit", ErrInvalidRecord, len(data), MaxRecordBytes)
	}
	var a Advisory
	switch f {
	case FormatJSON:
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, fmt.Errorf("%w: decode JSON: %w", ErrInvalidRecord, err)
		}
	case FormatYAML:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("%w: decode YAML: %w", ErrInvalidRecord, err)
		}
		// YAML mappings may hold non-string keys, which JSON (our storage
		// form) cannot represent; normalise them now so storage cannot fail.
		a.DatabaseSpecific = stringKeys(a.DatabaseSpecific)
		for i := range a.Affected {
			a.Affected[i].DatabaseSpecific = stringKeys(a.Affected[i].DatabaseSpecific)
		}
	default:
		return nil, fmt.Errorf("unknown record format %d", f)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Validate checks the invariants matching relies on: an ID, a parseable
// modification time when one is given, and affected entries that name a
// package and whose ranges have events.
func (a *Advisory) Validate() error {
	if strings.TrimSpace(a.ID) == "" {
		return fmt.Errorf("%w: missing id", ErrInvalidRecord)
	}
	for _, ts := range []struct{ name, v string }{{"modified", a.Modified}, {"published", a.Published}, {"withdrawn", a.Withdrawn}} {
		if ts.v == "" {
			continue
		}
		if _, err := parseTime(ts.v); err != nil {
			return fmt.Errorf("%w: %s: %s %q is not an RFC 3339 time", ErrInvalidRecord, a.ID, ts.name, ts.v)
		}
	}
	for i, af := range a.Affected {
		if af.Package.Name == "" || af.Package.Ecosystem == "" {
			return fmt.Errorf("%w: %s: affected[%d] lacks a package name or ecosystem", ErrInvalidRecord, a.ID, i)
		}
		for j, r := range af.Ranges {
			if len(r.Events) == 0 {
				return fmt.Errorf("%w: %s: affected[%d].ranges[%d] has no events", ErrInvalidRecord, a.ID, i, j)
			}
		}
	}
	return nil
}

// ModifiedTime returns the record's modification time. The Go vulndb writes
// the placeholder 0001-01-01T00:00:00Z; that (and an absent value) reads as
// the zero time, which callers treat as "unknown".
func (a *Advisory) ModifiedTime() time.Time {
	t, err := parseTime(a.Modified)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// IsWithdrawn reports whether the record carries a withdrawn time.
func (a *Advisory) IsWithdrawn() bool { return a.Withdrawn != "" }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// stringKeys rewrites map[any]any values produced by YAML into JSON-safe
// map[string]any values.
func stringKeys(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = jsonSafe(v)
	}
	return m
}

func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return stringKeys(x)
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, vv := range x {
			out[fmt.Sprint(k)] = jsonSafe(vv)
		}
		return out
	case []any:
		for i := range x {
			x[i] = jsonSafe(x[i])
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	default:
		return v
	}
}
