package scan

import (
	"fmt"
	"strings"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/vulndb"
)

// Level is a qualitative severity, ordered so that higher is worse.
type Level int

// Severity levels, lowest first.
const (
	LevelUnknown Level = iota
	LevelNone
	LevelLow
	LevelMedium
	LevelHigh
	LevelCritical
)

var levelNames = [...]string{"UNKNOWN", "NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// String returns the upper-case name of the level.
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return "UNKNOWN"
	}
	return levelNames[l]
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a level's name as ParseLevel does; an empty name is
// LevelUnknown, so stored and published findings read back.
func (l *Level) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*l = LevelUnknown
		return nil
	}
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseLevel reads a severity name, case-insensitively. "moderate" (GHSA's
// word) is MEDIUM.
func ParseLevel(s string) (Level, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "MODERATE" {
		return LevelMedium, nil
	}
	for i, n := range levelNames {
		if u == n {
			return Level(i), nil
		}
	}
	return LevelUnknown, fmt.Errorf("severity %q: want one of low, medium, high, critical, unknown", s)
}

// Severity is a finding's severity and where it came from.
type Severity struct {
	Level Level `json:"level"`
	// Score is the CVSS base score, when the level comes from a vector.
	Score float64 `json:"score,omitempty"`
	// Source says where the level came from: "cvss" (a vector in the
	// record's OSV severity field), "database_specific" (the record's
	// database_specific.severity label), "cve:<container>" (a CVSS metric
	// of the CVE record, set by an Enricher when the advisory has no
	// vector) or "" when unknown.
	Source string `json:"source,omitempty"`
	// Vector is the CVSS vector scored, if any.
	Vector string `json:"vector,omitempty"`
}

// severityOf picks the worst CVSS-scored severity of the affected entry or
// the record, falling back to the record's database_specific label.
func severityOf(c vulndb.Candidate) Severity {
	best := Severity{}
	for _, s := range append(append([]vulndb.Severity{}, c.Affected.Severity...), c.Severity...) {
		version := cvssVersion(s)
		if version == "" {
			continue
		}
		score, label, err := cve.ScoreCVSS(version, s.Score)
		if err != nil {
			continue
		}
		lvl, err := ParseLevel(label)
		if err != nil {
			continue
		}
		if best.Source == "" || score > best.Score {
			best = Severity{Level: lvl, Score: score, Source: "cvss", Vector: s.Score}
		}
	}
	if best.Source != "" {
		return best
	}
	if lvl, err := ParseLevel(c.DatabaseSeverity); err == nil && c.DatabaseSeverity != "" {
		return Severity{Level: lvl, Source: "database_specific"}
	}
	return Severity{Level: LevelUnknown}
}

// cvssVersion maps an OSV severity entry to the CVSS version of its vector.
func cvssVersion(s vulndb.Severity) string {
	switch s.Type {
	case "CVSS_V2":
		return cve.CVSSv20
	case "CVSS_V3":
		if strings.HasPrefix(s.Score, "CVSS:3.0/") {
			return cve.CVSSv30
		}
		return cve.CVSSv31
	case "CVSS_V4":
		return cve.CVSSv40
	}
	return ""
}
