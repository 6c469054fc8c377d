package condition

import (
	"fmt"
	"strings"
)

// Format is a compiled rule output: literal text with %field references
// substituted per event, as Falco formats rule outputs.
type Format[E any] struct {
	parts  []formatPart
	fields []formatPart
}

type formatPart struct {
	lit  string
	ref  string // field reference as written, "" for literal parts
	slot int
	typ  Type
	list bool
}

// FieldValue is one field of a rendered output: Value is a string or an
// int64, a slice of them for list fields, or nil when not available.
type FieldValue struct {
	Name  string
	Value any
}

// CompileFormat compiles an output format. A '%' followed by a field name
// (the longest known field name wins, optionally followed by "[arg]") is a
// field reference; any other '%' is literal. An unknown field is an error.
func CompileFormat[E any](t *Table[E], slots *Slots[E], s string) (*Format[E], error) {
	f := &Format[E]{}
	seen := map[string]bool{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' || i+1 >= len(s) || !isIdentStart(s[i+1]) {
			lit.WriteByte(c)
			i++
			continue
		}
		fld, ok := t.LongestPrefix(s[i+1:])
		if !ok {
			end := i + 1
			for end < len(s) && isIdentByte(s[end]) {
				end++
			}
			return nil, fmt.Errorf("output refers to unknown field %q", s[i+1:end])
		}
		j := i + 1 + len(fld.Name)
		arg, hasArg := "", false
		if j < len(s) && s[j] == '[' {
			end := strings.IndexByte(s[j:], ']')
			if end < 0 {
				return nil, fmt.Errorf("output field %q: argument is missing its ']'", fld.Name)
			}
			arg, hasArg = s[j+1:j+end], true
			j += end + 1
		}
		id, _, err := slots.bind(t, fld.Name, arg, hasArg)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, formatPart{lit: lit.String()})
			lit.Reset()
		}
		ref := s[i+1 : j]
		p := formatPart{ref: ref, slot: id, typ: fld.Type, list: fld.List}
		f.parts = append(f.parts, p)
		if !seen[ref] {
			seen[ref] = true
			f.fields = append(f.fields, p)
		}
		i = j
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, formatPart{lit: lit.String()})
	}
	return f, nil
}

// Render formats the output for the context's current event.
func (f *Format[E]) Render(c *Ctx[E]) string {
	var b strings.Builder
	for _, p := range f.parts {
		if p.ref == "" {
			b.WriteString(p.lit)
			continue
		}
		vals, ok := c.Values(p.slot)
		b.WriteString(Render(p.typ, p.list, vals, ok))
	}
	return b.String()
}

// Fields returns the values of the fields the output refers to, in order
// of first appearance, copied out of the event.
func (f *Format[E]) Fields(c *Ctx[E]) []FieldValue {
	return f.AppendFields(make([]FieldValue, 0, len(f.fields)), c)
}

// AppendFields appends the values Fields returns to dst and returns the
// extended slice.
func (f *Format[E]) AppendFields(dst []FieldValue, c *Ctx[E]) []FieldValue {
	for _, p := range f.fields {
		vals, ok := c.Values(p.slot)
		dst = append(dst, FieldValue{Name: p.ref, Value: exportValues(p.typ, p.list, vals, ok)})
	}
	return dst
}

// FieldNames returns the field references of the output as written
// ("ka.sourceips", "ka.req.pod.containers.image[0]"), in order of first
// appearance: the names of the values Fields returns.
func (f *Format[E]) FieldNames() []string {
	names := make([]string, len(f.fields))
	for i, p := range f.fields {
		names[i] = p.ref
	}
	return names
}

func exportValues(t Type, list bool, vals []Value, ok bool) any {
	if !ok {
		return nil
	}
	if !list {
		if t == Int {
			return vals[0].N
		}
		return string(vals[0].S)
	}
	if t == Int {
		ns := make([]int64, len(vals))
		for i, v := range vals {
			ns[i] = v.N
		}
		return ns
	}
	ss := make([]string, len(vals))
	for i, v := range vals {
		ss[i] = string(v.S)
	}
	return ss
}
