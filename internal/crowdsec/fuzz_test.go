package crowdsec

import (
	"net/url"
	"testing"
)

// FuzzParseQuery feeds raw query strings, as a bouncer sends them, to both
// query parsers: they must return a filter or an error, never panic, and a
// parsed target must be a valid prefix.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"ip=192.0.2.1", "range=10.0.0.0/8&contains=false", "scope=ip&type=ban&value=1.2.3.4",
		"startup=true&scopes=ip,range&origins=kubeward", "ip=::ffff:1.2.3.4", "range=::ffff:0:0/90", "foo=bar", "%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if flt, err := ParseDecisionsQuery(q); err == nil && flt.Target.IsValid() && flt.Target != flt.Target.Masked() && flt.Target.Bits() != flt.Target.Addr().BitLen() {
			t.Errorf("target %v is not masked", flt.Target)
		}
		_, _, _ = ParseStreamQuery(q)
	})
}

// FuzzDecisionValidate feeds decision scopes and values: Validate must not
// panic, and a valid decision's value must parse back to the same prefix.
func FuzzDecisionValidate(f *testing.F) {
	f.Add("Ip", "192.0.2.1")
	f.Add("range", "2001:db8::/32")
	f.Add("Range", "::ffff:10.0.0.0/104")
	f.Add("Ip", "fe80::1%eth0")
	f.Add("Country", "FR")
	f.Fuzz(func(t *testing.T, scope, value string) {
		d := Decision{Type: TypeBan, Scope: scope, Value: value, Until: t0}
		if err := d.Validate(); err != nil {
			return
		}
		p, err := ParseTarget(d.Scope, d.Value)
		if err != nil || p != d.Prefix() {
			t.Errorf("normalised value %q (scope %q) parses to %v, %v; want %v", d.Value, d.Scope, p, err, d.Prefix())
		}
	})
}
