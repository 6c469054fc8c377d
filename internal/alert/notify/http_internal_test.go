package notify

import (
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{" 0 ", 0, true},
		{"Mon, 23 Nov 2026 12:01:30 GMT", 90 * time.Second, true},
		{"Mon, 23 Nov 2026 11:00:00 GMT", 0, true}, // in the past: retry now
		{"-5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"https://hooks.slack.com/services/T0/B0/secret": "https://hooks.slack.com/…",
		"http://user:pw@example.com:8080/x?token=y":     "http://example.com:8080/…",
		"not a url": "<url>",
	}
	for in, want := range tests {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := map[string]string{
		"ok":                                 "ok",
		"<html>\n  <body>\n\tError\n</body>": "<html> <body> Error </body>",
		strings.Repeat("x", 300):             strings.Repeat("x", 199) + "…",
	}
	for in, want := range tests {
		if got := oneLine([]byte(in)); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseRetryAfter checks that a hostile Retry-After header never
// panics nor yields a negative delay.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "Mon, 23 Nov 2026 12:01:30 GMT", "-1", "99999999999999999999", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseRetryAfter(s, now); ok && d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}
