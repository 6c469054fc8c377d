package condition

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Type is the type of a field's values.
type Type int

// Field value types.
const (
	// String values compare as byte strings.
	String Type = iota
	// Int values are signed 64-bit integers and compare numerically.
	Int
)

func (t Type) String() string {
	if t == Int {
		return "int"
	}
	return "string"
}

// ArgMode says whether a field takes an argument in brackets.
type ArgMode int

// Argument modes.
const (
	// ArgNone: the field takes no argument.
	ArgNone ArgMode = iota
	// ArgOptional: the field may take an argument (often an index).
	ArgOptional
	// ArgRequired: the field must take an argument (a key).
	ArgRequired
)

// Value is one extracted value: S for String fields, N for Int fields.
// S may point into the event's own memory and is valid only while the
// event is being evaluated.
type Value struct {
	S []byte
	N int64
}

// Extractor appends the values of a field for event ev to dst and returns
// the extended slice and whether the field is available. A field that is
// not available (or a list field with no values) makes every comparison
// false, except that "not" inverts it as usual.
type Extractor[E any] func(ev E, dst []Value) ([]Value, bool)

// Field describes one field of an event source.
type Field[E any] struct {
	Name string
	Desc string
	Type Type
	// List marks fields that extract any number of values; they accept only
	// the operators exists, in and intersects.
	List bool
	Arg  ArgMode
	// Bind returns the extractor for the given argument; hasArg is false
	// when none was written. It reports an invalid argument as an error.
	Bind func(arg string, hasArg bool) (Extractor[E], error)
}

// Table is the set of fields an event source provides.
type Table[E any] struct {
	fields map[string]*Field[E]
}

// NewTable builds a table from fields; later fields with the same name
// replace earlier ones.
func NewTable[E any](fields ...*Field[E]) *Table[E] {
	t := &Table[E]{fields: make(map[string]*Field[E], len(fields))}
	for _, f := range fields {
		t.fields[f.Name] = f
	}
	return t
}

// Lookup returns the field named name.
func (t *Table[E]) Lookup(name string) (*Field[E], bool) {
	f, ok := t.fields[name]
	return f, ok
}

// LongestPrefix returns the known field whose name is the longest prefix
// of s, as Falco's output formatter resolves "%field" tokens.
func (t *Table[E]) LongestPrefix(s string) (*Field[E], bool) {
	var best *Field[E]
	for name, f := range t.fields {
		if strings.HasPrefix(s, name) && (best == nil || len(name) > len(best.Name)) {
			best = f
		}
	}
	return best, best != nil
}

// All returns the fields sorted by name.
func (t *Table[E]) All() []*Field[E] {
	out := make([]*Field[E], 0, len(t.fields))
	for _, f := range t.fields {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Slots assigns every distinct field reference (name and argument) of the
// filters compiled for one source a slot, so that a field is extracted at
// most once per event however many rules use it.
type Slots[E any] struct {
	index map[string]int
	ex    []Extractor[E]
}

// NewSlots returns an empty slot registry.
func NewSlots[E any]() *Slots[E] { return &Slots[E]{index: map[string]int{}} }

// Len returns the number of slots assigned.
func (s *Slots[E]) Len() int { return len(s.ex) }

// bind resolves a field reference in table and returns its slot.
func (s *Slots[E]) bind(t *Table[E], name, arg string, hasArg bool) (int, *Field[E], error) {
	f, ok := t.Lookup(name)
	if !ok {
		return 0, nil, fmt.Errorf("unknown field %q", name)
	}
	switch {
	case f.Arg == ArgNone && hasArg:
		return 0, nil, fmt.Errorf("field %q takes no argument, got [%s]", name, arg)
	case f.Arg == ArgRequired && !hasArg:
		return 0, nil, fmt.Errorf("field %q needs an argument in brackets, as in %s[...]", name, name)
	}
	key := name
	if hasArg {
		key += "[" + arg + "]"
	}
	if id, ok := s.index[key]; ok {
		return id, f, nil
	}
	ex, err := f.Bind(arg, hasArg)
	if err != nil {
		return 0, nil, fmt.Errorf("field %s: %w", key, err)
	}
	id := len(s.ex)
	s.index[key] = id
	s.ex = append(s.ex, ex)
	return id, f, nil
}

type slot struct {
	gen  uint64
	ok   bool
	vals []Value
}

// Ctx carries one event through evaluation and caches the fields already
// extracted from it. A Ctx is not safe for concurrent use; keep one per
// goroutine and Reset it for each event.
type Ctx[E any] struct {
	Event E
	slots *Slots[E]
	gen   uint64
	cache []slot
}

// NewCtx returns an evaluation context for filters compiled with slots.
func NewCtx[E any](slots *Slots[E]) *Ctx[E] {
	return &Ctx[E]{slots: slots, gen: 1}
}

// Reset prepares the context for a new event.
func (c *Ctx[E]) Reset(ev E) {
	c.Event = ev
	c.gen++
}

// Values returns the values of slot id for the current event.
func (c *Ctx[E]) Values(id int) ([]Value, bool) {
	if len(c.cache) < c.slots.Len() {
		grown := make([]slot, c.slots.Len())
		copy(grown, c.cache)
		c.cache = grown
	}
	s := &c.cache[id]
	if s.gen != c.gen {
		s.vals, s.ok = c.slots.ex[id](c.Event, s.vals[:0])
		s.ok = s.ok && len(s.vals) > 0
		s.gen = c.gen
	}
	return s.vals, s.ok
}

// Render formats extracted values as Falco prints them: the value itself,
// "(a,b)" for list fields and "<NA>" when the field is not available.
func Render(t Type, list bool, vals []Value, ok bool) string {
	if !ok {
		return NA
	}
	one := func(v Value) string {
		if t == Int {
			return strconv.FormatInt(v.N, 10)
		}
		return string(v.S)
	}
	if !list {
		return one(vals[0])
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one(v))
	}
	b.WriteByte(')')
	return b.String()
}

// NA is printed for fields that are not available in an event.
const NA = "<NA>"
