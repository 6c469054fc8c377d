package rules

import "testing"

// FuzzLoad checks that loading and compiling arbitrary rule files never
// panics.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("- rule: r\n  desc: d\n  condition: user = x\n  output: o %user\n  priority: INFO\n  source: toy\n  exceptions:\n    - name: e\n      fields: [user, ns]\n      comps: [=, in]\n      values:\n        - [a, [b, c]]\n"))
	f.Add([]byte("- list: a\n  items: [b]\n- list: b\n  items: [a]\n"))
	f.Add([]byte("- macro: m\n  condition: x\n- macro: m\n  condition: and y\n  override:\n    condition: append\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Load(File{Name: "fuzz.yaml", Data: data})
		if err != nil {
			return
		}
		_, _ = Compile(rs, env())
	})
}
