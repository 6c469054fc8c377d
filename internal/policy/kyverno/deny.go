package kyverno

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/kubeward/kubeward/internal/policy"
)

// deny holds deny conditions: the rule fails when they hold.
type deny struct {
	any, all []condition
}

type condition struct {
	key      operand
	operator string
	value    operand
}

// operand is a literal or a reference into the request.
type operand struct {
	literal any
	// root is object, oldObject or operation; path the fields below it.
	root string
	path []string
}

var operators = map[string]bool{
	"Equals": true, "NotEquals": true, "In": true, "AnyIn": true, "AllIn": true, "NotIn": true,
	"AnyNotIn": true, "AllNotIn": true, "GreaterThan": true, "GreaterThanOrEquals": true,
	"LessThan": true, "LessThanOrEquals": true,
}

func parseDeny(v any, p string) (*deny, error) {
	m, err := asMap(v, p)
	if err != nil {
		return nil, err
	}
	if err := allowKeys(m, p, "conditions"); err != nil {
		return nil, err
	}
	cp := p + ".conditions"
	d := &deny{}
	switch c := m["conditions"].(type) {
	case []any:
		if d.all, err = parseConditions(c, cp); err != nil {
			return nil, err
		}
	case map[string]any:
		if err := allowKeys(c, cp, "any", "all"); err != nil {
			return nil, err
		}
		for _, key := range []string{"any", "all"} {
			l, err := asList(c[key], cp+"."+key)
			if err != nil {
				return nil, err
			}
			conds, err := parseConditions(l, cp+"."+key)
			if err != nil {
				return nil, err
			}
			if key == "any" {
				d.any = conds
			} else {
				d.all = conds
			}
		}
	default:
		return nil, fmt.Errorf("%s: want a list or any/all", cp)
	}
	if len(d.any)+len(d.all) == 0 {
		return nil, fmt.Errorf("%s: no conditions", cp)
	}
	return d, nil
}

func parseConditions(l []any, p string) ([]condition, error) {
	out := make([]condition, 0, len(l))
	for i, e := range l {
		ep := fmt.Sprintf("%s[%d]", p, i)
		m, err := asMap(e, ep)
		if err != nil {
			return nil, err
		}
		if err := allowKeys(m, ep, "key", "operator", "value", "message"); err != nil {
			return nil, err
		}
		var c condition
		if c.operator, err = asString(m["operator"], ep+".operator"); err != nil {
			return nil, err
		}
		if !operators[c.operator] {
			return nil, fmt.Errorf("%s.operator %q: %w", ep, c.operator, ErrUnsupported)
		}
		if c.key, err = parseOperand(m["key"], ep+".key"); err != nil {
			return nil, err
		}
		if c.value, err = parseOperand(m["value"], ep+".value"); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

var (
	variableExpr = regexp.MustCompile(`^\{\{\s*(.*?)\s*\}\}$`)
	pathPart     = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*|"[^"]+")`)
)

func parseOperand(v any, p string) (operand, error) {
	s, ok := v.(string)
	if !ok {
		return operand{literal: v}, nil
	}
	if !strings.Contains(s, "{{") {
		return operand{literal: s}, nil
	}
	m := variableExpr.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return operand{}, fmt.Errorf("%s %q: %w (only a whole-value {{ request.… }} reference is supported)", p, s, ErrUnsupported)
	}
	expr := m[1]
	var parts []string
	for expr != "" {
		tok := pathPart.FindString(expr)
		if tok == "" {
			return operand{}, fmt.Errorf("%s %q: JMESPath beyond dotted field paths: %w", p, s, ErrUnsupported)
		}
		parts = append(parts, strings.Trim(tok, `"`))
		expr = expr[len(tok):]
		if expr != "" {
			if expr[0] != '.' {
				return operand{}, fmt.Errorf("%s %q: JMESPath beyond dotted field paths: %w", p, s, ErrUnsupported)
			}
			expr = expr[1:]
		}
	}
	if len(parts) < 2 || parts[0] != "request" {
		return operand{}, fmt.Errorf("%s %q: %w (only request.object, request.oldObject and request.operation are supported)", p, s, ErrUnsupported)
	}
	switch parts[1] {
	case "object", "oldObject":
		return operand{root: parts[1], path: parts[2:]}, nil
	case "operation":
		if len(parts) == 2 {
			return operand{root: "operation"}, nil
		}
	}
	return operand{}, fmt.Errorf("%s %q: %w (only request.object, request.oldObject and request.operation are supported)", p, s, ErrUnsupported)
}

func (o operand) resolve(obj *policy.Object) any {
	var cur any
	switch o.root {
	case "":
		return o.literal
	case "operation":
		if obj.Request != nil {
			return obj.Request.Operation
		}
		return "CREATE"
	case "object":
		cur = obj.U.Object
	case "oldObject":
		if obj.Request == nil || obj.Request.OldObject == nil {
			return nil
		}
		cur = obj.Request.OldObject.Object
	}
	for _, p := range o.path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (d *deny) holds(obj *policy.Object) bool {
	for _, c := range d.all {
		if !c.holds(obj) {
			return false
		}
	}
	if len(d.any) == 0 {
		return true
	}
	for _, c := range d.any {
		if c.holds(obj) {
			return true
		}
	}
	return false
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func equal(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	as, ok1 := scalarString(a)
	bs, ok2 := scalarString(b)
	if !ok1 || !ok2 {
		return false
	}
	if bsPat, ok := b.(string); ok && strings.ContainsAny(bsPat, "*?") {
		return wildcard(bsPat, as)
	}
	return as == bs || numEqual(as, bs)
}

func in(x any, set []any) bool {
	for _, s := range set {
		if equal(x, s) {
			return true
		}
	}
	return false
}

func (c condition) holds(obj *policy.Object) bool {
	k, v := c.key.resolve(obj), c.value.resolve(obj)
	switch c.operator {
	case "Equals":
		return equal(k, v)
	case "NotEquals":
		return !equal(k, v)
	case "In", "AllIn":
		for _, x := range list(k) {
			if !in(x, list(v)) {
				return false
			}
		}
		return true
	case "AnyIn":
		for _, x := range list(k) {
			if in(x, list(v)) {
				return true
			}
		}
		return false
	case "NotIn", "AllNotIn":
		for _, x := range list(k) {
			if in(x, list(v)) {
				return false
			}
		}
		return true
	case "AnyNotIn":
		for _, x := range list(k) {
			if !in(x, list(v)) {
				return true
			}
		}
		return false
	}
	ks, ok1 := scalarString(k)
	vs, ok2 := scalarString(v)
	if !ok1 || !ok2 {
		return false
	}
	a, ok1 := quantity(ks)
	b, ok2 := quantity(vs)
	if !ok1 || !ok2 {
		return false
	}
	cmp := a.Cmp(b)
	switch c.operator {
	case "GreaterThan":
		return cmp > 0
	case "GreaterThanOrEquals":
		return cmp >= 0
	case "LessThan":
		return cmp < 0
	default:
		return cmp <= 0
	}
}
