package rules

import (
	"fmt"
	"strings"
)

// Priority is a rule's severity, ordered as syslog severities: Emergency
// is the most severe (0) and Debug the least (7).
type Priority int

// Priorities, most severe first.
const (
	Emergency Priority = iota
	Alert
	Critical
	Error
	Warning
	Notice
	Informational
	Debug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns the name Falco prints in alerts ("Warning", "Informational").
func (p Priority) String() string {
	if p < Emergency || p > Debug {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityNames[p]
}

// AtLeast reports whether p is as severe as q or more.
func (p Priority) AtLeast(q Priority) bool { return p <= q }

// ParsePriority parses a priority as Falco accepts it, case-insensitively:
// the names above plus "info" for Informational.
func ParsePriority(s string) (Priority, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "emergency":
		return Emergency, nil
	case "alert":
		return Alert, nil
	case "critical":
		return Critical, nil
	case "error":
		return Error, nil
	case "warning":
		return Warning, nil
	case "notice":
		return Notice, nil
	case "informational", "info":
		return Informational, nil
	case "debug":
		return Debug, nil
	}
	return 0, fmt.Errorf("unknown priority %q: want one of emergency, alert, critical, error, warning, notice, informational (info), debug", s)
}

// MarshalText implements encoding.TextMarshaler.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
