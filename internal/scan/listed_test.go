package scan

import "testing"

func TestListed(t *testing.T) {
	for _, tt := range []struct {
		eco, version string
		versions     []string
		want         bool
	}{
		{"PyPI", "1.0", []string{"0.9", "1.0.0"}, true},
		{"PyPI", "v1.0", []string{"1"}, true},
		{"PyPI", "01.2", []string{"1.2.0"}, true},
		{"PyPI", "2.0.9", []string{"2.0.10", "2.0.90", "2.9"}, false},
		{"PyPI", "1.0a1", []string{"1.0.0a1"}, true},
		{"PyPI", "1!1.0", []string{"1.0"}, false},
		{"PyPI", "1.0", []string{"1!1.0"}, false},
		{"Go", "1.2.3", []string{"1.2.3"}, true},
		{"Maven", "1.0", []string{"1"}, true},
		{"Maven", "1.0", []string{"2"}, false},
		{"Debian:12", "1.0-1", []string{"0:1.0-1"}, true},
		{"Debian:12", "0:1.0-1", []string{"1.0-1"}, true},
	} {
		got, err := listed(tt.versions, tt.version, tt.eco)
		if err != nil || got != tt.want {
			t.Errorf("listed(%q, %q, %s) = %v, %v; want %v", tt.versions, tt.version, tt.eco, got, err, tt.want)
		}
	}
}

func TestReleaseSegments(t *testing.T) {
	for in, want := range map[string]string{
		"1.02.0rc1": "1.2", "v3": "3", "0.0.0": "0", "10.0.1.post2": "10.0.1", "2.": "2",
	} {
		if got, ok := releaseSegments(in); !ok || got != want {
			t.Errorf("releaseSegments(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"1!2.0", "rc1", ""} {
		if _, ok := releaseSegments(in); ok {
			t.Errorf("releaseSegments(%q) ok, want not ok", in)
		}
	}
}
