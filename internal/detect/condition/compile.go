package condition

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CompileError reports a condition that parses but cannot be compiled: an
// unknown field or macro, an operator the field does not support, or a
// value of the wrong type.
type CompileError struct {
	// Pos is the byte offset in the text of the condition (or macro) where
	// the problem is; Macro names the macro when it is inside one.
	Pos   int
	Macro string
	Msg   string
}

func (e *CompileError) Error() string {
	if e.Macro != "" {
		return fmt.Sprintf("in macro %q at offset %d: %s", e.Macro, e.Pos, e.Msg)
	}
	return fmt.Sprintf("at offset %d: %s", e.Pos, e.Msg)
}

// Compiler turns syntax trees into filters for one event source. Macros
// and lists are expanded at compile time, so a compiled filter never looks
// them up again.
type Compiler[E any] struct {
	// Table holds the fields of the source.
	Table *Table[E]
	// Slots is shared by all filters evaluated with the same Ctx.
	Slots *Slots[E]
	// Macros maps macro names to their parsed conditions.
	Macros map[string]Node
	// Lists maps list names to their items, already expanded.
	Lists map[string][]string
}

// Filter is a compiled condition.
type Filter[E any] struct {
	eval func(*Ctx[E]) bool
}

// Match evaluates the filter on the context's current event.
func (f *Filter[E]) Match(c *Ctx[E]) bool { return f.eval(c) }

// CompileString parses and compiles a condition.
func (c *Compiler[E]) CompileString(s string) (*Filter[E], error) {
	n, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return c.Compile(n)
}

// Compile compiles a parsed condition.
func (c *Compiler[E]) Compile(n Node) (*Filter[E], error) {
	fn, err := c.compile(n, nil)
	if err != nil {
		return nil, err
	}
	return &Filter[E]{eval: fn}, nil
}

type pred[E any] = func(*Ctx[E]) bool

func (c *Compiler[E]) compile(n Node, stack []string) (pred[E], error) {
	macro := ""
	if len(stack) > 0 {
		macro = stack[len(stack)-1]
	}
	switch n := n.(type) {
	case And:
		fs, err := c.compileAll(n.Children, stack)
		if err != nil {
			return nil, err
		}
		if len(fs) == 2 {
			a, b := fs[0], fs[1]
			return func(x *Ctx[E]) bool { return a(x) && b(x) }, nil
		}
		return func(x *Ctx[E]) bool {
			for _, f := range fs {
				if !f(x) {
					return false
				}
			}
			return true
		}, nil
	case Or:
		fs, err := c.compileAll(n.Children, stack)
		if err != nil {
			return nil, err
		}
		if len(fs) == 2 {
			a, b := fs[0], fs[1]
			return func(x *Ctx[E]) bool { return a(x) || b(x) }, nil
		}
		return func(x *Ctx[E]) bool {
			for _, f := range fs {
				if f(x) {
					return true
				}
			}
			return false
		}, nil
	case Not:
		f, err := c.compile(n.Child, stack)
		if err != nil {
			return nil, err
		}
		return func(x *Ctx[E]) bool { return !f(x) }, nil
	case MacroRef:
		body, ok := c.Macros[n.Name]
		if !ok {
			if _, isField := c.Table.Lookup(n.Name); isField {
				return nil, &CompileError{Pos: n.Pos, Macro: macro, Msg: fmt.Sprintf("field %q needs an operator", n.Name)}
			}
			return nil, &CompileError{Pos: n.Pos, Macro: macro, Msg: fmt.Sprintf("undefined macro %q", n.Name)}
		}
		for _, s := range stack {
			if s == n.Name {
				return nil, &CompileError{Pos: n.Pos, Macro: macro, Msg: fmt.Sprintf("macro %q refers to itself (%s)", n.Name, strings.Join(append(stack, n.Name), " -> "))}
			}
		}
		return c.compile(body, append(stack, n.Name))
	case Check:
		f, err := c.compileCheck(n)
		if err != nil {
			return nil, &CompileError{Pos: n.Pos, Macro: macro, Msg: err.Error()}
		}
		return f, nil
	}
	return nil, fmt.Errorf("condition: unknown node %T", n)
}

func (c *Compiler[E]) compileAll(ns []Node, stack []string) ([]pred[E], error) {
	fs := make([]pred[E], len(ns))
	for i, n := range ns {
		f, err := c.compile(n, stack)
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	return fs, nil
}

// operands returns the right-hand values with list references expanded.
func (c *Compiler[E]) operands(n Check) []string {
	out := make([]string, 0, len(n.Values))
	for _, v := range n.Values {
		if items, ok := c.Lists[v.Text]; ok && n.List && !v.Quoted {
			out = append(out, items...)
			continue
		}
		out = append(out, v.Text)
	}
	return out
}

func (c *Compiler[E]) compileCheck(n Check) (pred[E], error) {
	id, f, err := c.Slots.bind(c.Table, n.Field, n.Arg, n.HasArg)
	if err != nil {
		return nil, err
	}
	typ, list := f.Type, f.List
	for _, tr := range n.Transformers {
		if id, typ, list, err = c.Slots.transform(id, tr, typ, list); err != nil {
			return nil, fmt.Errorf("%s: %w", n.FieldRef(), err)
		}
	}
	if n.Op == "exists" {
		return func(x *Ctx[E]) bool { _, ok := x.Values(id); return ok }, nil
	}
	rhs := c.operands(n)
	if list {
		return compileListCheck[E](id, n.FieldRef(), typ, n.Op, rhs)
	}
	var match func(Value) bool
	if typ == Int {
		match, err = intMatcher(n.Op, rhs)
	} else {
		match, err = stringMatcher(n.Op, rhs)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", n.FieldRef(), n.Op, err)
	}
	return func(x *Ctx[E]) bool {
		vals, ok := x.Values(id)
		return ok && match(vals[0])
	}, nil
}

func compileListCheck[E any](id int, name string, typ Type, op string, rhs []string) (pred[E], error) {
	if op != "in" && op != "intersects" {
		return nil, fmt.Errorf("list field %q supports only the operators exists, in and intersects, not %q", name, op)
	}
	member, err := setMatcher(typ, rhs)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, op, err)
	}
	if op == "in" {
		// Every extracted value must be in the set.
		return func(x *Ctx[E]) bool {
			vals, ok := x.Values(id)
			if !ok {
				return false
			}
			for _, v := range vals {
				if !member(v) {
					return false
				}
			}
			return true
		}, nil
	}
	return func(x *Ctx[E]) bool {
		vals, ok := x.Values(id)
		if !ok {
			return false
		}
		for _, v := range vals {
			if member(v) {
				return true
			}
		}
		return false
	}, nil
}

func setMatcher(t Type, rhs []string) (func(Value) bool, error) {
	if t == Int {
		set := make(map[int64]struct{}, len(rhs))
		for _, r := range rhs {
			n, err := parseInt(r)
			if err != nil {
				return nil, err
			}
			set[n] = struct{}{}
		}
		return func(v Value) bool { _, ok := set[v.N]; return ok }, nil
	}
	if len(rhs) <= 4 {
		bs := make([][]byte, len(rhs))
		for i, r := range rhs {
			bs[i] = []byte(r)
		}
		return func(v Value) bool {
			for _, b := range bs {
				if bytes.Equal(v.S, b) {
					return true
				}
			}
			return false
		}, nil
	}
	set := make(map[string]struct{}, len(rhs))
	for _, r := range rhs {
		set[r] = struct{}{}
	}
	return func(v Value) bool { _, ok := set[string(v.S)]; return ok }, nil
}

func parseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(s, 0, 64)
		if uerr != nil {
			return 0, fmt.Errorf("value %q is not an integer", s)
		}
		return int64(u), nil
	}
	return n, nil
}

func intMatcher(op string, rhs []string) (func(Value) bool, error) {
	switch op {
	case "in", "intersects":
		return setMatcher(Int, rhs)
	case "pmatch":
		return nil, fmt.Errorf("operator %q is not supported on numeric fields", op)
	}
	if len(rhs) != 1 {
		return nil, fmt.Errorf("operator %q takes one value", op)
	}
	n, err := parseInt(rhs[0])
	if err != nil {
		return nil, err
	}
	switch op {
	case "=", "==":
		return func(v Value) bool { return v.N == n }, nil
	case "!=":
		return func(v Value) bool { return v.N != n }, nil
	case "<":
		return func(v Value) bool { return v.N < n }, nil
	case "<=":
		return func(v Value) bool { return v.N <= n }, nil
	case ">":
		return func(v Value) bool { return v.N > n }, nil
	case ">=":
		return func(v Value) bool { return v.N >= n }, nil
	}
	return nil, fmt.Errorf("operator %q is not supported on numeric fields", op)
}

func stringMatcher(op string, rhs []string) (func(Value) bool, error) {
	switch op {
	case "in", "intersects":
		return setMatcher(String, rhs)
	case "pmatch":
		pm := newPathMatcher(rhs)
		return func(v Value) bool { return pm.match(v.S) }, nil
	}
	if len(rhs) != 1 {
		return nil, fmt.Errorf("operator %q takes one value", op)
	}
	r := rhs[0]
	rb := []byte(r)
	switch op {
	case "=", "==":
		return func(v Value) bool { return string(v.S) == r }, nil
	case "!=":
		return func(v Value) bool { return string(v.S) != r }, nil
	case "<":
		return func(v Value) bool { return string(v.S) < r }, nil
	case "<=":
		return func(v Value) bool { return string(v.S) <= r }, nil
	case ">":
		return func(v Value) bool { return string(v.S) > r }, nil
	case ">=":
		return func(v Value) bool { return string(v.S) >= r }, nil
	case "contains":
		return func(v Value) bool { return bytes.Contains(v.S, rb) }, nil
	case "icontains":
		return func(v Value) bool { return containsFold(v.S, rb) }, nil
	case "startswith":
		return func(v Value) bool { return bytes.HasPrefix(v.S, rb) }, nil
	case "endswith":
		return func(v Value) bool { return bytes.HasSuffix(v.S, rb) }, nil
	case "bcontains", "bstartswith":
		raw, err := hex.DecodeString(strings.ReplaceAll(r, " ", ""))
		if err != nil {
			return nil, fmt.Errorf("value %q is not a hex byte string: %w", r, err)
		}
		if op == "bcontains" {
			return func(v Value) bool { return bytes.Contains(v.S, raw) }, nil
		}
		return func(v Value) bool { return bytes.HasPrefix(v.S, raw) }, nil
	case "glob":
		return func(v Value) bool { return globMatch(r, v.S, false) }, nil
	case "iglob":
		return func(v Value) bool { return globMatch(r, v.S, true) }, nil
	case "regex":
		re, err := regexp.Compile(`^(?:` + r + `)$`)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %w", r, err)
		}
		return func(v Value) bool { return re.Match(v.S) }, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}
