package alert

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MatchType is the operator of a Matcher.
type MatchType string

// Match operators, as in Alertmanager.
const (
	MatchEqual     MatchType = "="
	MatchNotEqual  MatchType = "!="
	MatchRegexp    MatchType = "=~"
	MatchNotRegexp MatchType = "!~"
)

// Matcher selects alerts by one label. It is a plain value (stored with
// silences as is); Compile it before matching.
type Matcher struct {
	Name  string    `json:"name"`
	Type  MatchType `json:"type"`
	Value string    `json:"value"`
}

// String renders m in the form ParseMatcher reads: name=~"value".
func (m Matcher) String() string {
	return m.Name + string(m.Type) + strconv.Quote(m.Value)
}

// ParseMatcher parses the Alertmanager matcher syntax: a label name, an
// operator (=, !=, =~, !~) and a value, optionally double-quoted with Go
// escapes: `severity="critical"`, `namespace=~"prod-.*"`, `team!=qa`.
func ParseMatcher(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name, operator (=, !=, =~, !~) and value, e.g. severity=\"critical\"", s)
	}
	m := Matcher{Name: strings.TrimSpace(s[:i])}
	rest := s[i:]
	for _, op := range []MatchType{MatchRegexp, MatchNotRegexp, MatchNotEqual, MatchEqual} {
		if strings.HasPrefix(rest, string(op)) {
			m.Type = op
			rest = rest[len(op):]
			break
		}
	}
	if m.Type == "" {
		return Matcher{}, fmt.Errorf("matcher %q: unknown operator: want =, !=, =~ or !~", s)
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, `"`) {
		v, err := strconv.Unquote(rest)
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: value is not a valid double-quoted string: %w", s, err)
		}
		rest = v
	}
	m.Value = rest
	if err := m.Validate(); err != nil {
		return Matcher{}, err
	}
	return m, nil
}

// Validate checks the name, the operator and, for regular expressions, the
// pattern.
func (m Matcher) Validate() error {
	if !ValidLabelName(m.Name) {
		return fmt.Errorf("matcher %s: label name %q is invalid: use letters, digits and underscores", m, m.Name)
	}
	switch m.Type {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		if _, err := regexp.Compile(anchor(m.Value)); err != nil {
			return fmt.Errorf("matcher %s: invalid regular expression: %w", m, err)
		}
	default:
		return fmt.Errorf("matcher %s: unknown operator %q: want =, !=, =~ or !~", m, m.Type)
	}
	return nil
}

func anchor(re string) string { return "^(?:" + re + ")$" }

// Matchers is a conjunction of compiled matchers: it matches a label set
// when every matcher does. The zero value matches everything.
type Matchers struct {
	ms []compiled
}

type compiled struct {
	Matcher
	re *regexp.Regexp
}

// CompileMatchers validates ms and compiles their regular expressions.
// Regular expressions are anchored at both ends, as in Alertmanager.
func CompileMatchers(ms []Matcher) (Matchers, error) {
	out := Matchers{ms: make([]compiled, 0, len(ms))}
	for _, m := range ms {
		if err := m.Validate(); err != nil {
			return Matchers{}, err
		}
		c := compiled{Matcher: m}
		if m.Type == MatchRegexp || m.Type == MatchNotRegexp {
			c.re = regexp.MustCompile(anchor(m.Value)) // validated above
		}
		out.ms = append(out.ms, c)
	}
	return out, nil
}

// Matches reports whether every matcher matches ls. A missing label has the
// value "", so `team!="qa"` matches alerts without a team label.
func (m Matchers) Matches(ls LabelSet) bool {
	for _, c := range m.ms {
		v := ls[c.Name]
		var ok bool
		switch c.Type {
		case MatchEqual:
			ok = v == c.Value
		case MatchNotEqual:
			ok = v != c.Value
		case MatchRegexp:
			ok = c.re.MatchString(v)
		case MatchNotRegexp:
			ok = !c.re.MatchString(v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// Len returns the number of matchers.
func (m Matchers) Len() int { return len(m.ms) }

// Matchers returns the plain matchers m was compiled from.
func (m Matchers) Matchers() []Matcher {
	out := make([]Matcher, len(m.ms))
	for i, c := range m.ms {
		out[i] = c.Matcher
	}
	return out
}
