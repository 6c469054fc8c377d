package alert_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/alert"
)

func TestDecode(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("testdata", "alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := alert.Decode(valid)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if a.Name() != "PrivilegedContainer" || a.Labels["severity"] != "high" || a.Source != alert.SourceViolation || a.GeneratorID != "violation/psp-privileged/api" {
		t.Fatalf("decoded %+v", a)
	}
	tests := []struct {
		name, in, want string
	}{
		{"not json", `{`, "invalid alert JSON"},
		{"unknown field", `{"labels":{"alertname":"A"},"severity":"high","source":"finding","startsAt":"2026-01-01T00:00:00Z","sevrity":"x"}`, `unknown field "sevrity"`},
		{"trailing", `{"labels":{"alertname":"A"},"severity":"high","source":"finding","startsAt":"2026-01-01T00:00:00Z"} {}`, "trailing data"},
		{"bad time", `{"labels":{"alertname":"A"},"severity":"high","source":"finding","startsAt":"yesterday"}`, "invalid alert JSON"},
		{"invalid", `{"labels":{"alertname":"A"},"severity":"high","source":"finding"}`, "startsAt is required"},
		{"too large", `{"labels":{"alertname":"` + strings.Repeat("x", alert.MaxAlertBytes) + `"}}`, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alert.Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode error = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics and that what it accepts is
// normalized and survives a round trip through JSON.
func FuzzDecode(f *testing.F) {
	valid, err := os.ReadFile(filepath.Join("testdata", "alert.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"labels":{"alertname":"A","severity":"low"},"source":"anomaly","startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T00:01:00Z"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := alert.Decode(data)
		if err != nil {
			return
		}
		if a.Labels["severity"] != string(a.Severity) || a.Labels["source"] != string(a.Source) || a.Name() == "" {
			t.Fatalf("accepted alert is not normalized: %+v", a)
		}
		b := a.Clone()
		if err := b.Normalize(); err != nil {
			t.Fatalf("accepted alert fails Normalize: %v", err)
		}
		if b.Fingerprint() != a.Fingerprint() {
			t.Fatal("normalizing twice changed the fingerprint")
		}
	})
}

// FuzzParseMatcher checks that ParseMatcher never panics and that what it
// accepts compiles and round-trips through String.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{`severity="critical"`, `ns=~"prod-.*"`, `a!~b`, `a!=""`, `x="\u00e9\n"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := alert.ParseMatcher(s)
		if err != nil {
			return
		}
		if _, err := alert.CompileMatchers([]alert.Matcher{m}); err != nil {
			t.Fatalf("accepted matcher %+v does not compile: %v", m, err)
		}
		again, err := alert.ParseMatcher(m.String())
		if err != nil || again != m {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, m, m.String(), again, err)
		}
	})
}
