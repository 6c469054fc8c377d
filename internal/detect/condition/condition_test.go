package condition

import (
	"strings"
	"testing"
)

// testEvent maps field references ("name" or "name[arg]") to values; a
// missing key is an absent field.
type testEvent map[string][]string

func testTable() *Table[testEvent] {
	bind := func(name string, list bool, typ Type) *Field[testEvent] {
		return &Field[testEvent]{Name: name, List: list, Type: typ, Arg: ArgOptional, Bind: func(arg string, has bool) (Extractor[testEvent], error) {
			key := name
			if has {
				key += "[" + arg + "]"
			}
			return func(e testEvent, dst []Value) ([]Value, bool) {
				vs, ok := e[key]
				if !ok {
					return dst, false
				}
				for _, v := range vs {
					if typ == Int {
						n, err := parseInt(v)
						if err != nil {
							panic(err)
						}
						dst = append(dst, Value{N: n})
					} else {
						dst = append(dst, Value{S: []byte(v)})
					}
				}
				return dst, true
			}, nil
		}}
	}
	return NewTable(
		bind("s", false, String), bind("s.other", false, String), bind("absent", false, String), bind("l", true, String),
		bind("n", false, Int), bind("ln", true, Int),
		&Field[testEvent]{Name: "noarg", Bind: func(string, bool) (Extractor[testEvent], error) {
			return func(e testEvent, dst []Value) ([]Value, bool) { return append(dst, Value{S: []byte("x")}), true }, nil
		}},
		&Field[testEvent]{Name: "needarg", Arg: ArgRequired, Bind: func(string, bool) (Extractor[testEvent], error) {
			return func(e testEvent, dst []Value) ([]Value, bool) { return dst, false }, nil
		}},
	)
}

func newCompiler() *Compiler[testEvent] {
	return &Compiler[testEvent]{
		Table: testTable(),
		Slots: NewSlots[testEvent](),
		Macros: map[string]Node{
			"is_admin":  mustParse("s = admin"),
			"loop_a":    MacroRef{Name: "loop_b"},
			"loop_b":    MacroRef{Name: "loop_a"},
			"bad_field": mustParse("nosuch.field = 1"),
		},
		Lists: map[string][]string{"admins": {"admin", "root"}, "empty": nil, "ports": {"22", "80"}},
	}
}

func mustParse(s string) Node {
	n, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestEvaluate(t *testing.T) {
	ev := testEvent{
		"s":       {"/etc/passwd"},
		"s.other": {"Hello World"},
		"l":       {"a", "b"},
		"n":       {"42"},
		"ln":      {"1", "2"},
		"s[key]":  {"keyed"},
	}
	tests := []struct {
		cond string
		want bool
	}{
		{"s = /etc/passwd", true},
		{"s == '/etc/passwd'", true},
		{"s != /etc/passwd", false},
		{`s="/etc/passwd"`, true},
		{"s < /f", true},
		{"s >= /etc/passwd", true},
		{"s > /etc/passwd", false},
		{"s contains passwd", true},
		{"s.other icontains 'hello world'", true},
		{"s.other contains hello", false},
		{"s startswith /etc", true},
		{"s endswith wd", true},
		{"s bcontains 706173", true},
		{"s bstartswith 2f657463", true},
		{"s glob /etc/*", true},
		{"s glob '/e?c/pass[a-z]d'", true},
		{"s glob /usr/*", false},
		{"s.other iglob 'hello*'", true},
		{"s regex '/etc/p.*'", true},
		{"s regex 'etc'", false},
		{"s pmatch (/etc)", true},
		{"s pmatch (/et)", false},
		{"s pmatch (/usr, /etc/passwd)", true},
		{"s in (admins)", false},
		{"s in (/etc/passwd, x)", true},
		{"s in ('admins', /etc/passwd)", true},
		{"s intersects (/etc/passwd)", true},
		{"l in (a, b, c)", true},
		{"l in (a)", false},
		{"l intersects (b, z)", true},
		{"l intersects (z)", false},
		{"l exists", true},
		{"n = 42", true},
		{"n > 41 and n < 43", true},
		{"n in (1, 42)", true},
		{"n != 0x2a", false},
		{"ln in (1, 2, 3)", true},
		{"ln intersects (3)", false},
		{"s[key] = keyed", true},
		// Absent fields: every comparison is false, exists too, not inverts.
		{"absent = x", false},
		{"absent != x", false},
		{"not absent = x", true},
		{"absent exists", false},
		{"not absent exists", true},
		{"absent in (x)", false},
		{"not absent in (x)", true},
		// Boolean structure and precedence: and binds tighter than or.
		{"s = x or s = /etc/passwd and n = 42", true},
		{"(s = x or s = /etc/passwd) and n = 1", false},
		{"not (s = x)", true},
		{"not not s exists", true},
		{"s = x or s = y or n = 42", true},
		{"s exists and n = 42 and l exists", true},
		// Transformers.
		{"tolower(s.other) = 'hello world'", true},
		{"toupper(s) = /ETC/PASSWD", true},
		{"basename(s) = passwd", true},
		{"len(s) = 11", true},
		{"len(l) = 2", true},
		{"len(l) > 2", false},
		{"tolower(l) in (a, b)", true},
		{"b64(s[key]) exists", false},
		{"len(absent) = 0", false},
		{"tolower(toupper(s)) = /etc/passwd", true},
		// Macros and lists.
		{"is_admin", false},
		{"not is_admin and s in (admins, /etc/passwd)", true},
		{"s in (empty)", false},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			c := newCompiler()
			f, err := c.CompileString(tt.cond)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			ctx := NewCtx(c.Slots)
			ctx.Reset(ev)
			if got := f.Match(ctx); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			// A second event through the same context must not see cached
			// values of the first.
			ctx.Reset(testEvent{})
			if strings.Contains(tt.cond, "not") {
				return
			}
			if f.Match(ctx) {
				t.Errorf("matched an empty event")
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ cond, want string }{
		{"nosuch = 1", `unknown field "nosuch"`},
		{"undefined_macro", `undefined macro "undefined_macro"`},
		{"loop_a", "refers to itself"},
		{"bad_field", `in macro "bad_field"`},
		{"s", `field "s" needs an operator`},
		{"n contains 1", "not supported on numeric fields"},
		{"n = abc", "not an integer"},
		{"l = a", "supports only the operators exists, in and intersects"},
		{"l contains a", "supports only"},
		{"noarg[1] = x", "takes no argument"},
		{"needarg = x", "needs an argument"},
		{"s regex '('", "invalid regular expression"},
		{"s bcontains zz", "not a hex byte string"},
		{"tolower(n) = x", "needs a string field"},
		{"len(s) contains 1", "not supported on numeric fields"},
		{"tolower(s)", "needs an operator"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			_, err := newCompiler().CompileString(tt.cond)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []string{
		"", "(", "s = ", "s in x", "s in (a, b", "s in (a b)", "and", "s = x and", "s = x)",
		"s = 'unterminated", "s[arg = x", "not", "s = x or or s = y", "s = val(n)", "1s = x",
		"tolower(s = x", "tolower() = x", "len(and) = 1",
	}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			if n, err := Parse(s); err == nil {
				t.Fatalf("parsed %q as %v, want a syntax error", s, n)
			}
		})
	}
}

func TestParseStringRoundTrip(t *testing.T) {
	tests := []string{
		`ka.verb=get`,
		`(jevt.value[/stage] in (k8s_audit_stages))`,
		`kevt and pod and kcreate and not ka.target.subresource exists`,
		`ka.uri=/healthz or ka.uri startswith /healthz?`,
		`not ka.user.name startswith "system:"`,
		`a contains "x \"y\" \\ z" and b in ("and", 'or', c)`,
		"a = b\nand\tc = d",
		`ka.target.name in (system:coredns, system:managed-certificate-controller)`,
		`tolower(basename(proc.exe[0])) in (bash, sh) and len(ka.user.groups) > 1`,
	}
	for _, s := range tests {
		n, err := Parse(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		again, err := Parse(n.String())
		if err != nil {
			t.Fatalf("%q rendered as %q does not parse: %v", s, n.String(), err)
		}
		if again.String() != n.String() {
			t.Errorf("round trip changed %q to %q", n.String(), again.String())
		}
	}
}

func TestFormat(t *testing.T) {
	c := newCompiler()
	if _, err := CompileFormat(c.Table, c.Slots, "s=%s miss=%missing.x"); err == nil {
		t.Fatal("unknown field missing.x accepted")
	}
	f, err := CompileFormat(c.Table, c.Slots, "s=%s other=%s.other/%s list=%l n=%n ln=%ln arg=%s[key] 100% done %noarg.")
	if err != nil {
		t.Fatal(err)
	}
	ctx := NewCtx(c.Slots)
	ctx.Reset(testEvent{"s": {"v"}, "l": {"a", "b"}, "n": {"7"}, "s[key]": {"k"}})
	want := "s=v other=<NA>/v list=(a,b) n=7 ln=<NA> arg=k 100% done x."
	if got := f.Render(ctx); got != want {
		t.Errorf("Render:\n got %q\nwant %q", got, want)
	}
	fields := f.Fields(ctx)
	if len(fields) != 7 || fields[1].Name != "s.other" || fields[1].Value != nil || fields[3].Value.(int64) != 7 {
		t.Errorf("Fields = %#v", fields)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "a/b", true}, {"a*c", "abbbc", true}, {"a*c", "abbbd", false},
		{"?", "é", true}, {"[!a]x", "bx", true}, {"[!a]x", "ax", false}, {"[a-c]", "b", true},
		{`\*`, "*", true}, {`\*`, "a", false}, {"[", "[", true}, {"a[]", "a[]", true},
		{"*.keystore", "/usr/share/es/config/elasticsearch.keystore", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, []byte(tt.s), false); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	c := newCompiler()
	f, err := c.CompileString("s startswith /etc and (n > 10 or l intersects (z)) and not s in (admins)")
	if err != nil {
		b.Fatal(err)
	}
	ctx := NewCtx(c.Slots)
	ev := testEvent{"s": {"/etc/passwd"}, "n": {"42"}, "l": {"a"}}
	b.ReportAllocs()
	for b.Loop() {
		ctx.Reset(ev)
		f.Match(ctx)
	}
}
