package auth

import (
	"strings"
	"testing"
	"time"
)

// fuzzKey and fuzzNow make the fuzz targets deterministic; the corpus
// files under testdata/fuzz hold states sealed with fuzzKey.
var (
	fuzzKey = []byte(strings.Repeat("k", 32))
	fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// FuzzOpenLoginState feeds arbitrary cookie values to the state check of
// an external login's callback: it must never panic, and must accept only
// what was sealed with the key.
func FuzzOpenLoginState(f *testing.F) {
	sealer := newStateSealer(fuzzKey)
	valid, err := sealer.seal(loginState{State: "s", Nonce: "n", Verifier: "v", Expires: fuzzNow.Unix() + 600})
	if err != nil {
		f.Fatal(err)
	}
	expired, _ := sealer.seal(loginState{State: "s", Nonce: "n", Verifier: "v", Expires: fuzzNow.Unix() - 1})
	other, _ := newStateSealer([]byte(strings.Repeat("x", 32))).seal(loginState{State: "s", Nonce: "n", Verifier: "v", Expires: fuzzNow.Unix() + 600})
	for _, s := range []string{valid, expired, other, "", ".", "a.b", valid + "x", strings.Repeat("A", 3000) + ".x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sealed string) {
		st, err := sealer.open(sealed, fuzzNow)
		if err != nil {
			return
		}
		if st.State == "" || st.Nonce == "" || st.Verifier == "" || st.Expires < fuzzNow.Unix() {
			t.Fatalf("accepted an incomplete or expired state %+v from %q", st, sealed)
		}
		// What one key accepts, another refuses: the signature decides.
		if _, err := newStateSealer([]byte(strings.Repeat("x", 32))).open(sealed, fuzzNow); err == nil {
			t.Fatalf("%q is accepted under two keys", sealed)
		}
	})
}

// FuzzParseRevocation feeds arbitrary Redis announcements to the parser:
// no panic, and what it accepts formats back to an equal announcement.
func FuzzParseRevocation(f *testing.F) {
	for _, s := range []string{"1767225600000 0123456789abcdef0123456789abcdef", "", " ", "x y", "-1 a", "1 a b", "99999999999999999999 a", "1 \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRevocation(s)
		if err != nil {
			return
		}
		again, err := parseRevocation(formatRevocation(r))
		if err != nil || again != r {
			t.Fatalf("%q parsed to %+v, which formats to %q and parses to %+v, %v", s, r, formatRevocation(r), again, err)
		}
	})
}
