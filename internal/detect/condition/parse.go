package condition

import (
	"fmt"
	"strings"
)

// MaxDepth bounds the nesting of parentheses and "not" so that hostile
// input cannot exhaust the stack.
const MaxDepth = 512

// SyntaxError reports a condition that does not parse.
type SyntaxError struct {
	// Pos is the byte offset where parsing failed.
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("condition syntax error at offset %d: %s", e.Pos, e.Msg)
}

// binaryOps lists the operators that take a right-hand value, longest
// symbolic operators first so "<=" wins over "<".
var symbolicOps = []string{"==", "!=", "<=", ">=", "=", "<", ">"}

var wordOps = map[string]bool{
	"contains": true, "icontains": true, "bcontains": true,
	"startswith": true, "bstartswith": true, "endswith": true,
	"glob": true, "iglob": true, "pmatch": true,
	"in": true, "intersects": true, "regex": true,
	"exists": true,
}

// listOps must be followed by a parenthesised list.
var listOps = map[string]bool{"in": true, "intersects": true, "pmatch": true}

// Parse parses a condition into a syntax tree. Macros and lists are kept
// as references; see Compiler for their expansion.
func Parse(s string) (Node, error) {
	p := &parser{s: s}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return nil, p.errorf("unexpected %q after a complete expression", p.rest(12))
	}
	return n, nil
}

type parser struct {
	s   string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) rest(n int) string {
	r := p.s[p.pos:]
	if len(r) > n {
		r = r[:n] + "…"
	}
	return r
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '\b'
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// keyword consumes kw when it appears next as a whole word.
func (p *parser) keyword(kw string) bool {
	p.skipSpace()
	end := p.pos + len(kw)
	if end > len(p.s) || !strings.EqualFold(p.s[p.pos:end], kw) {
		return false
	}
	if end < len(p.s) && !isSpace(p.s[end]) && p.s[end] != '(' {
		return false
	}
	p.pos = end
	return true
}

func (p *parser) parseOr(depth int) (Node, error) {
	first, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	children := []Node{first}
	for p.keyword("or") {
		n, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		children = append(children, n)
	}
	if len(children) == 1 {
		return first, nil
	}
	return Or{Children: children}, nil
}

func (p *parser) parseAnd(depth int) (Node, error) {
	first, err := p.parseNot(depth)
	if err != nil {
		return nil, err
	}
	children := []Node{first}
	for p.keyword("and") {
		n, err := p.parseNot(depth)
		if err != nil {
			return nil, err
		}
		children = append(children, n)
	}
	if len(children) == 1 {
		return first, nil
	}
	return And{Children: children}, nil
}

func (p *parser) parseNot(depth int) (Node, error) {
	if depth > MaxDepth {
		return nil, p.errorf("expression nested deeper than %d levels", MaxDepth)
	}
	if p.keyword("not") {
		n, err := p.parseNot(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not{Child: n}, nil
	}
	return p.parseCheck(depth)
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentByte(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'
}

func isBareByte(c byte) bool {
	return !isSpace(c) && c != '(' && c != ')' && c != ',' && c != '"' && c != '\'' && c > 0x1f && c != 0x7f
}

func (p *parser) parseCheck(depth int) (Node, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of condition, want a field, a macro or '('")
	}
	if p.s[p.pos] == '(' {
		p.pos++
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, p.errorf("missing ')'")
		}
		p.pos++
		return n, nil
	}
	start := p.pos
	chk, err := p.parseFieldRef(0)
	if err != nil {
		return nil, err
	}
	chk.Pos = start
	op, ok := p.operator()
	if !ok {
		if chk.HasArg || len(chk.Transformers) > 0 {
			return nil, p.errorf("field %q needs an operator", chk.FieldRef())
		}
		return MacroRef{Name: chk.Field, Pos: start}, nil
	}
	chk.Op = op
	if op == "exists" {
		return chk, nil
	}
	p.skipSpace()
	if listOps[op] {
		if p.pos >= len(p.s) || p.s[p.pos] != '(' {
			return nil, p.errorf("operator %q needs a parenthesised list of values", op)
		}
		vals, err := p.parseList()
		if err != nil {
			return nil, err
		}
		chk.Values, chk.List = vals, true
		return chk, nil
	}
	v, err := p.parseValue()
	if err != nil {
		return nil, fmt.Errorf("right-hand side of %q: %w", chk.FieldRef()+" "+op, err)
	}
	chk.Values = []Operand{v}
	return chk, nil
}

// Transformers are the functions that may wrap a field on the left-hand
// side, as in tolower(ka.user.name).
var Transformers = map[string]bool{"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true}

// parseFieldRef parses name, name[arg] or transformer(fieldref).
func (p *parser) parseFieldRef(depth int) (Check, error) {
	start := p.pos
	if p.pos >= len(p.s) || !isIdentStart(p.s[p.pos]) {
		return Check{}, p.errorf("unexpected %q, want a field, a macro or '('", p.rest(12))
	}
	for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
		p.pos++
	}
	name := p.s[start:p.pos]
	if isKeyword(name) {
		p.pos = start
		return Check{}, p.errorf("unexpected keyword %q", name)
	}
	if p.pos < len(p.s) && p.s[p.pos] == '(' && Transformers[name] {
		if depth > 8 {
			return Check{}, p.errorf("transformers nested too deeply")
		}
		p.pos++
		p.skipSpace()
		inner, err := p.parseFieldRef(depth + 1)
		if err != nil {
			return Check{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return Check{}, p.errorf("%s(...) is missing its ')'", name)
		}
		p.pos++
		inner.Transformers = append(inner.Transformers, name)
		return inner, nil
	}
	chk := Check{Field: name}
	if p.pos < len(p.s) && p.s[p.pos] == '[' {
		end := strings.IndexByte(p.s[p.pos+1:], ']')
		if end < 0 {
			return Check{}, p.errorf("field argument of %q is missing its ']'", name)
		}
		chk.Arg = p.s[p.pos+1 : p.pos+1+end]
		chk.HasArg = true
		p.pos += end + 2
	}
	return chk, nil
}

// operator consumes an operator if one follows.
func (p *parser) operator() (string, bool) {
	save := p.pos
	p.skipSpace()
	for _, op := range symbolicOps {
		if strings.HasPrefix(p.s[p.pos:], op) {
			p.pos += len(op)
			return op, true
		}
	}
	end := p.pos
	for end < len(p.s) && isIdentStart(p.s[end]) {
		end++
	}
	w := strings.ToLower(p.s[p.pos:end])
	if wordOps[w] && (end == len(p.s) || isSpace(p.s[end]) || p.s[end] == '(' || p.s[end] == ')') {
		p.pos = end
		return w, true
	}
	p.pos = save
	return "", false
}

func (p *parser) parseList() ([]Operand, error) {
	p.pos++ // '('
	var vals []Operand
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ')' {
		p.pos++
		return vals, nil
	}
	for {
		v, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, p.errorf("list is missing its ')'")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return vals, nil
		default:
			return nil, p.errorf("unexpected %q in a list, want ',' or ')'", p.rest(12))
		}
	}
}

func (p *parser) parseValue() (Operand, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return Operand{}, p.errorf("missing value")
	}
	c := p.s[p.pos]
	if c == '"' || c == '\'' {
		s, err := p.parseQuoted(c)
		return Operand{Text: s, Quoted: true}, err
	}
	start := p.pos
	for p.pos < len(p.s) && isBareByte(p.s[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return Operand{}, p.errorf("unexpected %q, want a value", p.rest(12))
	}
	text := p.s[start:p.pos]
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		return Operand{}, p.errorf("%s(...) on the right-hand side is not supported: compare with a literal value", text)
	}
	return Operand{Text: text}, nil
}

func (p *parser) parseQuoted(q byte) (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.s):
			p.pos++
			switch e := p.s[p.pos]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
		p.pos++
	}
	p.pos = start
	return "", p.errorf("unterminated quoted string")
}
