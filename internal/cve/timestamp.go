package cve

import (
	"fmt"
	"strings"
	"time"
)

// Layouts of the timestamps that occur in CVE JSON 5 records. The schema's
// timestamp type is RFC 3339 with optional fractional seconds and an
// optional zone offset; without an offset GMT is meant. Real records carry
// all of these shapes, e.g. "2024-10-24T13:45:06.123Z",
// "2024-10-24T13:45:06", "2024-06-25T14:34:53.587598Z",
// "2024-07-11T15:03:18+00:00", and plain dates ("2024-07-11") in the
// CISA-ADP KEV metric.
const (
	layoutZoned = time.RFC3339Nano                     // with Z or ±hh:mm
	layoutLocal = "2006-01-02T15:04:05.999999999"      // no zone: UTC
	layoutDate  = time.DateOnly                        // date only: UTC midnight
	layoutBasic = "2006-01-02T15:04:05.999999999Z0700" // ±hhmm without colon
)

// parseTimestamp parses a CVE JSON 5 timestamp or date. Timestamps without
// a zone are taken as UTC, as the schema says. The result is in UTC.
func parseTimestamp(s string) (time.Time, error) {
	var layout string
	switch {
	case len(s) == len(layoutDate):
		layout = layoutDate
	case !hasZone(s):
		layout = layoutLocal
	case len(s) > 5 && (s[len(s)-5] == '+' || s[len(s)-5] == '-'):
		layout = layoutBasic
	default:
		layout = layoutZoned
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339 (want e.g. 2024-10-24T13:45:06.123Z): %w", s, err)
	}
	return t.UTC(), nil
}

// hasZone reports whether the time part of s ends in Z or a numeric offset.
func hasZone(s string) bool {
	t := strings.IndexByte(s, 'T')
	if t < 0 {
		return false
	}
	clock := s[t+1:]
	return strings.HasSuffix(clock, "Z") ||
		strings.ContainsAny(clock, "+-")
}
