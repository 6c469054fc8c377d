package kyverno

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// anchor kinds of pattern keys.
const (
	anchorNone        = ""
	anchorCondition   = "("
	anchorEquality    = "=("
	anchorNegation    = "X("
	anchorUnsupported = "?"
)

// parseKey splits a pattern key into its anchor and the field name.
func parseKey(k string) (anchor, name string) {
	if !strings.HasSuffix(k, ")") {
		return anchorNone, k
	}
	for _, a := range []string{anchorEquality, anchorNegation, anchorCondition} {
		if strings.HasPrefix(k, a) {
			return a, k[len(a) : len(k)-1]
		}
	}
	for _, a := range []string{"^(", "<(", "+("} {
		if strings.HasPrefix(k, a) {
			return anchorUnsupported, k
		}
	}
	return anchorNone, k
}

// checkPattern refuses pattern features outside the supported subset.
func checkPattern(p any, path string) error {
	switch t := p.(type) {
	case map[string]any:
		for k, v := range t {
			if a, _ := parseKey(k); a == anchorUnsupported {
				return fmt.Errorf("%s.%s: the %s) anchor is %w", path, k, k[:2], ErrUnsupported)
			}
			if err := checkPattern(v, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if len(t) > 1 {
			return fmt.Errorf("%s: list patterns with more than one element are %w", path, ErrUnsupported)
		}
		for _, v := range t {
			if err := checkPattern(v, path+"[0]"); err != nil {
				return err
			}
		}
	case string:
		if strings.Contains(t, "{{") {
			return fmt.Errorf("%s: variables in patterns are %w", path, ErrUnsupported)
		}
	}
	return nil
}

// outcome of matching a pattern.
type outcome int

const (
	matched outcome = iota
	mismatched
	// skipped means a conditional anchor did not hold: the pattern does
	// not apply to this element.
	skipped
)

// matchPattern matches resource against pattern. On a mismatch it returns
// the field path (relative to base) and a description.
func matchPattern(res, pat any, path string) (outcome, string, string) {
	switch p := pat.(type) {
	case map[string]any:
		r, ok := res.(map[string]any)
		if !ok {
			return mismatched, path, fmt.Sprintf("want an object, found %s", describe(res))
		}
		// Conditional anchors first: if one fails the map does not apply.
		for k, pv := range p {
			a, name := parseKey(k)
			if a != anchorCondition {
				continue
			}
			rv, present := r[name]
			if !present {
				return skipped, "", ""
			}
			if o, _, _ := matchPattern(rv, pv, join(path, name)); o != matched {
				return skipped, "", ""
			}
		}
		for _, k := range sortedKeys(p) {
			pv := p[k]
			a, name := parseKey(k)
			rv, present := r[name]
			switch a {
			case anchorCondition:
				continue
			case anchorNegation:
				if present {
					return mismatched, join(path, name), "field must not be set"
				}
				continue
			case anchorEquality:
				if !present {
					continue
				}
			default:
				if !present {
					if isNilPattern(pv) {
						continue
					}
					return mismatched, join(path, name), "required field is missing"
				}
			}
			// A conditional anchor that does not hold below a map makes
			// the whole pattern not applicable (Kyverno skips the rule);
			// inside a list it only skips that element (see below).
			if o, fp, msg := matchPattern(rv, pv, join(path, name)); o != matched {
				return o, fp, msg
			}
		}
		return matched, "", ""
	case []any:
		r, ok := res.([]any)
		if !ok {
			return mismatched, path, fmt.Sprintf("want a list, found %s", describe(res))
		}
		if len(p) == 0 {
			return matched, "", ""
		}
		for i, e := range r {
			if o, fp, msg := matchPattern(e, p[0], fmt.Sprintf("%s[%d]", path, i)); o == mismatched {
				return o, fp, msg
			}
		}
		return matched, "", ""
	case nil:
		if res == nil {
			return matched, "", ""
		}
		return mismatched, path, "field must not be set"
	default:
		if scalarMatches(res, pat) {
			return matched, "", ""
		}
		return mismatched, path, fmt.Sprintf("value %s does not match %s", describe(res), describe(pat))
	}
}

func isNilPattern(p any) bool {
	if p == nil {
		return true
	}
	s, ok := p.(string)
	return ok && (s == "null" || strings.HasPrefix(s, "!") && !strings.HasPrefix(s, "!="))
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(t)
	}
	return fmt.Sprint(v)
}

func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	}
	return "", false
}

// scalarMatches evaluates a scalar pattern (with operators for strings)
// against a scalar resource value.
func scalarMatches(res, pat any) bool {
	rs, ok := scalarString(res)
	if !ok {
		return false
	}
	ps, isString := pat.(string)
	if !isString {
		p, _ := scalarString(pat)
		return p == rs || numEqual(p, rs)
	}
	for _, alt := range strings.Split(ps, "|") {
		all := true
		for _, part := range strings.Split(alt, "&") {
			if !exprMatches(strings.TrimSpace(part), rs) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

var rangeExpr = regexp.MustCompile(`^(!)?(-?[0-9.]+[A-Za-z]*)-(-?[0-9.]+[A-Za-z]*)$`)

func exprMatches(e, v string) bool {
	if m := rangeExpr.FindStringSubmatch(e); m != nil {
		lo, ok1 := quantity(m[2])
		hi, ok2 := quantity(m[3])
		x, ok3 := quantity(v)
		if ok1 && ok2 && ok3 {
			in := x.Cmp(lo) >= 0 && x.Cmp(hi) <= 0
			return in != (m[1] == "!")
		}
	}
	for _, op := range []string{">=", "<=", ">", "<", "!"} {
		if !strings.HasPrefix(e, op) {
			continue
		}
		operand := strings.TrimSpace(e[len(op):])
		if op == "!" {
			return !wildcard(operand, v) && !numEqual(operand, v)
		}
		a, ok1 := quantity(v)
		b, ok2 := quantity(operand)
		if !ok1 || !ok2 {
			return false
		}
		c := a.Cmp(b)
		switch op {
		case ">=":
			return c >= 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		default:
			return c < 0
		}
	}
	return wildcard(e, v) || numEqual(e, v)
}

func quantity(s string) (resource.Quantity, bool) {
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}

func numEqual(a, b string) bool {
	x, ok1 := quantity(a)
	y, ok2 := quantity(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
