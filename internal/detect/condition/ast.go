// Package condition implements Falco's condition language: a parser that
// turns a condition string into a syntax tree, and a compiler that expands
// macros and lists and turns the tree into a closure evaluated against one
// event at a time.
//
// The language (as in falcosecurity/libs userspace/libsinsp/filter):
//
//	expr   := or
//	or     := and ("or" and)*
//	and    := not ("and" not)*
//	not    := "not" not | check
//	check  := "(" expr ")" | field op value | field "exists" | macro
//	field  := name ["[" arg "]"] | transformer "(" field ")"
//	value  := quoted | bare | "(" item ("," item)* ")"
//
// Binary operators: = == != < <= > >= contains icontains bcontains
// startswith bstartswith endswith glob iglob pmatch in intersects regex.
// Transformers: tolower toupper b64 basename len. Not supported (a clear
// compile error): field references on the right-hand side (val(field))
// and operator modifiers.
//
// Semantics follow libsinsp: a field that is not available makes every
// comparison false (and "not" true); list fields accept only exists, in
// (every value in the set) and intersects (some value in the set).
package condition

import "strings"

// Node is one node of a parsed condition.
type Node interface {
	// String renders the node back as condition text that parses to an
	// equal tree.
	String() string
	node()
}

// And is a conjunction of two or more nodes.
type And struct{ Children []Node }

// Or is a disjunction of two or more nodes.
type Or struct{ Children []Node }

// Not negates its child.
type Not struct{ Child Node }

// MacroRef names a macro to be expanded at compile time.
type MacroRef struct {
	Name string
	// Pos is the byte offset of the name in the condition text.
	Pos int
}

// Operand is one right-hand value of a check.
type Operand struct {
	Text string
	// Quoted is set for values written in quotes; only bare values inside
	// a parenthesised list may name a list.
	Quoted bool
}

// Check compares a field of the event with a value.
type Check struct {
	Field  string
	Arg    string
	HasArg bool
	// Transformers wrap the field, innermost first: tolower(b64(f)) is
	// [b64 tolower].
	Transformers []string
	// Op is the operator as written, lower-cased ("=", "in", "exists", …).
	Op string
	// Values holds the right-hand side: one value, or the items of a
	// parenthesised list when List is set. Empty for unary operators.
	Values []Operand
	List   bool
	// Pos is the byte offset of the field name in the condition text.
	Pos int
}

func (And) node()      {}
func (Or) node()       {}
func (Not) node()      {}
func (MacroRef) node() {}
func (Check) node()    {}

func (n And) String() string { return joinNodes(n.Children, " and ") }
func (n Or) String() string  { return joinNodes(n.Children, " or ") }
func (n Not) String() string { return "not " + wrap(n.Child) }

func (n MacroRef) String() string { return n.Name }

// FieldRef renders the field with its argument and transformers, as in
// "ka.uri.param[x]" or "tolower(ka.user.name)".
func (n Check) FieldRef() string {
	ref := n.Field
	if n.HasArg {
		ref += "[" + n.Arg + "]"
	}
	for _, t := range n.Transformers {
		ref = t + "(" + ref + ")"
	}
	return ref
}

func (n Check) String() string {
	var b strings.Builder
	b.WriteString(n.FieldRef())
	b.WriteByte(' ')
	b.WriteString(n.Op)
	if n.Op == "exists" {
		return b.String()
	}
	b.WriteByte(' ')
	if n.List {
		b.WriteByte('(')
		for i, v := range n.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(renderOperand(v))
		}
		b.WriteByte(')')
		return b.String()
	}
	b.WriteString(renderOperand(n.Values[0]))
	return b.String()
}

func renderOperand(v Operand) string {
	if v.Quoted || !isBare(v.Text) {
		return quote(v.Text)
	}
	return v.Text
}

// quote renders s as a double-quoted string the parser reads back as s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isBare(s string) bool {
	if s == "" || isKeyword(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareByte(s[i]) {
			return false
		}
	}
	return true
}

func isKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not":
		return true
	}
	return false
}

func wrap(n Node) string {
	switch n.(type) {
	case And, Or, Not:
		return "(" + n.String() + ")"
	}
	return n.String()
}

func joinNodes(ns []Node, sep string) string {
	parts := make([]string, len(ns))
	for i, c := range ns {
		parts[i] = wrap(c)
	}
	return strings.Join(parts, sep)
}
