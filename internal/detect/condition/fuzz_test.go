package condition

import "testing"

// FuzzParse checks that the parser never panics and that every tree it
// returns renders to text that parses back to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`kevt and pod and kcreate and not ka.target.subresource exists`,
		`ka.req.pod.volumes.hostpath intersects (/proc, /var/run/docker.sock, /)`,
		`(jevt.value[/stage] in (k8s_audit_stages))`,
		`a = "q\"uote" or not (b glob 'x*' and c pmatch (/etc))`,
		`x in ()`, `not not a`, `a[b]c = d`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		text := n.String()
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("%q rendered as %q, which does not parse: %v", s, text, err)
		}
		if again.String() != text {
			t.Fatalf("round trip of %q: %q became %q", s, text, again.String())
		}
		// Compiling must not panic either, whatever the fields.
		_, _ = newCompiler().Compile(n)
	})
}
