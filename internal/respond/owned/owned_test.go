package owned

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	tests := []struct {
		prefix, name string
		want         string
		wantLen      int
	}{
		{"kubeward-quarantine-", "web", "kubeward-quarantine-web", 23},
		{"p-", strings.Repeat("a", 251), "p-" + strings.Repeat("a", 251), 253},
		{"p-", strings.Repeat("a", 252), "", 253},
	}
	for _, tt := range tests {
		got := Name(tt.prefix, tt.name)
		if len(got) != tt.wantLen || (tt.want != "" && got != tt.want) || !strings.HasPrefix(got, tt.prefix) {
			t.Errorf("Name(%q, %d chars) = %q (%d chars), want %d chars", tt.prefix, len(tt.name), got, len(got), tt.wantLen)
		}
	}
	if Name("p-", strings.Repeat("a", 300)) == Name("p-", strings.Repeat("a", 301)) {
		t.Error("long names that differ after the cut collide")
	}
}
