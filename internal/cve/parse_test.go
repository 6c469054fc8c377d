package cve

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// minimal builds a small CVE record with the given replacements applied
// to a valid template, for error tests.
func minimal(repl ...string) []byte {
	const tmpl = `{"dataType":"CVE_RECORD","dataVersion":"5.1",
"cveMetadata":{"cveId":"CVE-2024-12345","state":"PUBLISHED","dateUpdated":"2024-10-24T13:45:06.123Z"},
"containers":{"cna":{"descriptions":[{"lang":"en","value":"x"}],
"metrics":[{"cvssV3_1":{"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8}}]},
"adp":[{"providerMetadata":{"shortName":"CISA-ADP"},"metrics":[
{"other":{"type":"ssvc","content":{"role":"CISA Coordinator","version":"2.0.3","timestamp":"2024-06-14T13:58:43.444327Z","options":[{"Exploitation":"PoC"},{"Automatable":"No"},{"Technical Impact":"Partial"}]}}},
{"other":{"type":"kev","content":{"dateAdded":"2024-06-13","reference":"https://example.com/kev"}}}]}]}}`
	return []byte(strings.NewReplacer(repl...).Replace(tmpl))
}

func TestParseMinimal(t *testing.T) {
	rec, err := Parse(minimal())
	if err != nil {
		t.Fatal(err)
	}
	wantSSVC := SSVC{Exploitation: "poc", Automatable: "no", TechnicalImpact: "partial", Role: "CISA Coordinator",
		Version: "2.0.3", Timestamp: time.Date(2024, 6, 14, 13, 58, 43, 444327000, time.UTC)}
	if rec.SSVC == nil || *rec.SSVC != wantSSVC {
		t.Errorf("SSVC = %+v, want %+v", rec.SSVC, wantSSVC)
	}
	wantKEV := KEV{DateAdded: time.Date(2024, 6, 13, 0, 0, 0, 0, time.UTC), Reference: "https://example.com/kev"}
	if rec.KEV == nil || *rec.KEV != wantKEV {
		t.Errorf("KEV = %+v, want %+v", rec.KEV, wantKEV)
	}
	if sev, score := rec.MaxSeverity(); sev != "CRITICAL" || score != 9.8 {
		t.Errorf("MaxSeverity = %s %v, want CRITICAL 9.8", sev, score)
	}
}

// TestParseErrors covers every error class with the sentinel it wraps,
// the field it names and the ID it knows.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		kind    error
		field   string
		id      string
		message string // substring of Error()
	}{
		{"empty", nil, ErrMalformedJSON, "", "", "not valid JSON"},
		{"truncated", minimal()[:100], ErrMalformedJSON, "", "", "malformed JSON"},
		{"garbage", []byte("CVE-2024-1234"), ErrMalformedJSON, "", "", ""},
		{"trailing garbage", append(minimal(), "}"...), ErrMalformedJSON, "", "", ""},
		{"array", []byte(`[1,2]`), ErrNotCVERecord, "/dataType", "", "missing"},
		{"null", []byte(`null`), ErrNotCVERecord, "/dataType", "", ""},
		{"empty object", []byte(`{}`), ErrNotCVERecord, "/dataType", "", ""},
		{"CVE 4 record", []byte(`{"data_type":"CVE","data_version":"4.0","CVE_data_meta":{"ID":"CVE-2019-1234"}}`), ErrNotCVERecord, "/dataType", "", ""},
		{"other dataType", minimal(`"CVE_RECORD"`, `"OSV"`), ErrNotCVERecord, "/dataType", "CVE-2024-12345", `"OSV"`},
		{"version 4.0", minimal(`"5.1"`, `"4.0"`), ErrUnsupportedVersion, "/dataVersion", "CVE-2024-12345", `"4.0"`},
		{"version 5.3", minimal(`"5.1"`, `"5.3"`), ErrUnsupportedVersion, "/dataVersion", "CVE-2024-12345", ""},
		{"version 5.10", minimal(`"5.1"`, `"5.10"`), ErrUnsupportedVersion, "/dataVersion", "CVE-2024-12345", ""},
		{"version missing", minimal(`"dataVersion":"5.1",`, ``), ErrUnsupportedVersion, "/dataVersion", "CVE-2024-12345", ""},
		{"version number", minimal(`"5.1"`, `5.1`), ErrUnsupportedVersion, "/dataVersion", "CVE-2024-12345", ""},
		{"id missing", minimal(`"cveId":"CVE-2024-12345",`, ``), ErrMissingID, "/cveMetadata/cveId", "", "no CVE ID"},
		{"id short", minimal(`CVE-2024-12345`, `CVE-2024-123`), ErrMissingID, "/cveMetadata/cveId", "", `"CVE-2024-123"`},
		{"id lower case", minimal(`CVE-2024-12345`, `cve-2024-12345`), ErrMissingID, "/cveMetadata/cveId", "", ""},
		{"id two-digit year", minimal(`CVE-2024-12345`, `CVE-24-12345`), ErrMissingID, "/cveMetadata/cveId", "", ""},
		{"id suffix", minimal(`CVE-2024-12345`, `CVE-2024-12345x`), ErrMissingID, "/cveMetadata/cveId", "", ""},
		{"id number", minimal(`"CVE-2024-12345"`, `2024`), ErrMissingID, "/cveMetadata/cveId", "", ""},
		{"bad state", minimal(`PUBLISHED`, `RESERVED`), ErrInvalidField, "/cveMetadata/state", "CVE-2024-12345", `"RESERVED"`},
		{"bad dateUpdated", minimal(`2024-10-24T13:45:06.123Z`, `24.10.2024`), ErrInvalidField, "/cveMetadata/dateUpdated", "CVE-2024-12345", "RFC 3339"},
		{"bad hour", minimal(`2024-10-24T13:45:06.123Z`, `2024-10-24T25:45:06Z`), ErrInvalidField, "/cveMetadata/dateUpdated", "CVE-2024-12345", ""},
		{"wrong type", minimal(`"baseScore":9.8`, `"baseScore":"9.8"`), ErrInvalidField, "/containers/cna/metrics/0/cvssV3_1/baseScore", "CVE-2024-12345", "JSON string"},
		{"descriptions object", minimal(`"descriptions":[{"lang":"en","value":"x"}]`, `"descriptions":{}`), ErrInvalidField, "/containers/cna/descriptions", "CVE-2024-12345", ""},
		{"bad ssvc timestamp", minimal(`2024-06-14T13:58:43.444327Z`, `yesterday`), ErrInvalidField, "/containers/adp/0/metrics/0/other/content/timestamp", "CVE-2024-12345", ""},
		{"bad ssvc content", minimal(`[{"Exploitation":"PoC"},{"Automatable":"No"},{"Technical Impact":"Partial"}]`, `{"Exploitation":"PoC"}`), ErrInvalidField, "/containers/adp/0/metrics/0/other/content", "CVE-2024-12345", "SSVC"},
		{"bad kev date", minimal(`"2024-06-13"`, `"13/06/2024"`), ErrInvalidField, "/containers/adp/0/metrics/1/other/content/dateAdded", "CVE-2024-12345", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want %v", rec, tt.kind)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q does not wrap %v", err, tt.kind)
			}
			for _, other := range []error{ErrMalformedJSON, ErrNotCVERecord, ErrUnsupportedVersion, ErrMissingID, ErrInvalidField} {
				if other != tt.kind && errors.Is(err, other) {
					t.Errorf("error %q also wraps %v", err, other)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Field != tt.field {
				t.Errorf("Field = %q, want %q", pe.Field, tt.field)
			}
			if pe.ID != tt.id {
				t.Errorf("ID = %q, want %q", pe.ID, tt.id)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q does not contain %q", err, tt.message)
			}
		})
	}
}

// TestParseLenient covers input that real feeds get slightly wrong and
// that must still parse.
func TestParseLenient(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		check func(*Record) string
	}{
		{"bad vector falls back to reported score", minimal(`A:H"`, `A:Q"`), func(r *Record) string {
			m := r.Metrics[0]
			if m.Error == "" || m.BaseScore != 9.8 || m.Severity != "CRITICAL" {
				return "metric " + m.Error
			}
			return ""
		}},
		{"vector and reported score both bad", minimal(`A:H"`, `A:Q"`, `9.8`, `42`), func(r *Record) string {
			if m := r.Metrics[0]; !strings.Contains(m.Error, "out of range") || m.BaseScore != 0 || m.Severity != "" {
				return "metric " + m.Error
			}
			return ""
		}},
		{"bad vector and score, valid reported rating", minimal(`A:H"`, `A:Q"`, `"baseScore":9.8`, `"baseScore":-1,"baseSeverity":"high"`), func(r *Record) string {
			if m := r.Metrics[0]; m.Error == "" || m.BaseScore != 0 || m.Severity != "HIGH" {
				return "metric " + m.Severity
			}
			return ""
		}},
		{"duplicate member: last wins", minimal(`"state":"PUBLISHED"`, `"state":"REJECTED","state":"PUBLISHED"`), func(r *Record) string {
			if r.State != StatePublished {
				return r.State
			}
			return ""
		}},
		{"invalid UTF-8 in a description", minimal(`"value":"x"`, "\"value\":\"x\xff\""), func(r *Record) string {
			if !strings.HasPrefix(r.EnglishDescription(), "x") {
				return r.EnglishDescription()
			}
			return ""
		}},
		{"patch version 5.1.1", minimal(`"5.1"`, `"5.1.1"`), func(r *Record) string {
			if r.DataVersion != "5.1.1" {
				return r.DataVersion
			}
			return ""
		}},
		{"no dates at all", minimal(`"dateUpdated":"2024-10-24T13:45:06.123Z"`, `"assignerShortName":"x"`), func(r *Record) string {
			if !r.DateUpdated.IsZero() || r.DateUpdatedRaw != "" {
				return r.DateUpdatedRaw
			}
			return ""
		}},
		{"dateUpdated falls back to dateReserved", minimal(`"dateUpdated"`, `"dateReserved"`), func(r *Record) string {
			if r.DateUpdatedRaw != "2024-10-24T13:45:06.123Z" || !r.DateUpdated.Equal(r.DateReserved) {
				return r.DateUpdatedRaw
			}
			return ""
		}},
		{"dateUpdated falls back to dateRejected first", minimal(`"dateUpdated":"2024-10-24T13:45:06.123Z"`,
			`"datePublished":"2024-01-01T00:00:00Z","dateRejected":"2024-02-02T00:00:00Z"`, `PUBLISHED`, `REJECTED`), func(r *Record) string {
			if r.DateUpdatedRaw != "2024-02-02T00:00:00Z" || !r.DateUpdated.Equal(r.DateRejected) || r.State != StateRejected {
				return r.DateUpdatedRaw
			}
			return ""
		}},
		{"ssvc outside CISA-ADP is only a metric", minimal(`"CISA-ADP"`, `"other-adp"`), func(r *Record) string {
			if r.SSVC != nil || r.KEV != nil || len(r.Metrics) != 3 || r.Metrics[1].Source != "adp:other-adp" {
				return "SSVC/KEV extracted from another ADP"
			}
			return ""
		}},
		{"empty lists stay nil", minimal(`PUBLISHED`, `REJECTED`), func(r *Record) string {
			if r.Descriptions != nil || r.Affected != nil || r.Problems != nil || r.References != nil {
				return "non-nil empty list"
			}
			return ""
		}},
		{"unknown members are ignored", minimal(`"dataType"`, `"x_future":{"a":[1,2,{"b":null}]},"dataType"`), func(r *Record) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(rec); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestPeekID(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
		kind error
	}{
		{"record", minimal(), "CVE-2024-12345", nil},
		{"only metadata", []byte(`{"cveMetadata":{"cveId":"CVE-1999-0001"}}`), "CVE-1999-0001", nil},
		{"truncated", minimal()[:50], "", ErrMalformedJSON},
		{"no id", []byte(`{"cveMetadata":{}}`), "", ErrMissingID},
		{"bad id", []byte(`{"cveMetadata":{"cveId":"CVE-1999-1"}}`), "", ErrMissingID},
		{"id not a string", []byte(`{"cveMetadata":{"cveId":1}}`), "", ErrMissingID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeekID(tt.in)
			if got != tt.want || (tt.kind == nil) != (err == nil) || tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("PeekID = %q, %v; want %q, %v", got, err, tt.want, tt.kind)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	tests := map[string]bool{
		"CVE-2024-1234":                 true,
		"CVE-1999-0001":                 true,
		"CVE-2024-1234567890123456789":  true, // 19 digits
		"CVE-2024-12345678901234567890": false,
		"CVE-2024-123":                  false,
		"CVE-202-1234":                  false,
		"CVE-2024_1234":                 false,
		"cve-2024-1234":                 false,
		"CVE-2024-12a4":                 false,
		"":                              false,
	}
	for id, want := range tests {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-10-24T13:45:06.123Z", time.Date(2024, 10, 24, 13, 45, 6, 123e6, time.UTC), true},
		{"2024-10-24T13:45:06Z", time.Date(2024, 10, 24, 13, 45, 6, 0, time.UTC), true},
		{"2024-10-24T13:45:06", time.Date(2024, 10, 24, 13, 45, 6, 0, time.UTC), true},
		{"2024-10-24T13:45:06.587598", time.Date(2024, 10, 24, 13, 45, 6, 587598e3, time.UTC), true},
		{"2024-10-24T13:45:06+02:00", time.Date(2024, 10, 24, 11, 45, 6, 0, time.UTC), true},
		{"2024-10-24T13:45:06.5-01:30", time.Date(2024, 10, 24, 15, 15, 6, 5e8, time.UTC), true},
		{"2024-10-24T13:45:06+0200", time.Date(2024, 10, 24, 11, 45, 6, 0, time.UTC), true},
		{"2024-10-24", time.Date(2024, 10, 24, 0, 0, 0, 0, time.UTC), true},
		{"2024-02-30", time.Time{}, false},
		{"2024-10-24 13:45:06", time.Time{}, false},
		{"2024-10-24T13:45", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseTimestamp(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) || tt.ok && got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestScoreCVSS checks computed scores against an independent
// implementation (the ae-cvss-calculator npm package, FIRST's formulas)
// for each version, including vectors whose temporal/threat metrics must
// not change the base score.
func TestScoreCVSS(t *testing.T) {
	tests := []struct {
		version, vector string
		score           float64
		severity        string
	}{
		{"2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "HIGH"},
		{"2.0", "AV:L/AC:H/Au:M/C:N/I:P/A:N", 0.8, "LOW"},
		{"2.0", "(AV:N/AC:L/Au:N/C:C/I:C/A:C)", 10, "HIGH"},
		{"3.0", "CVSS:3.0/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 3.5, "LOW"},
		{"3.0", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10, "CRITICAL"},
		{"3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:U/RC:C", 9.8, "CRITICAL"},
		{"3.1", "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0, "NONE"},
		{"3.1", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", 3.3, "LOW"},
		{"4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N", 5.1, "MEDIUM"},
		{"4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/E:U", 8.7, "HIGH"},
		{"4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10, "CRITICAL"},
		{"4.0", "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1, "LOW"},
		{"4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U/CR:L/MAV:P", 9.3, "CRITICAL"},
	}
	for _, tt := range tests {
		score, sev, err := ScoreCVSS(tt.version, tt.vector)
		if err != nil || score != tt.score || sev != tt.severity {
			t.Errorf("ScoreCVSS(%s, %s) = %v %s %v; want %v %s", tt.version, tt.vector, score, sev, err, tt.score, tt.severity)
		}
	}
	for _, bad := range []struct{ version, vector string }{
		{"3.1", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{"3.1", ""},
		{"4.0", "CVSS:4.0/AV:N"},
		{"2.0", "AV:N/AC:L"},
		{"5.0", "CVSS:5.0/AV:N"},
	} {
		if _, _, err := ScoreCVSS(bad.version, bad.vector); err == nil {
			t.Errorf("ScoreCVSS(%s, %q) succeeded, want an error", bad.version, bad.vector)
		}
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		version string
		score   float64
		want    string
		ok      bool
	}{
		{"2.0", 3.9, "LOW", true}, {"2.0", 4, "MEDIUM", true}, {"2.0", 6.9, "MEDIUM", true}, {"2.0", 7, "HIGH", true},
		{"3.1", 0, "NONE", true}, {"3.1", 0.1, "LOW", true}, {"3.0", 9, "CRITICAL", true}, {"4.0", 8.9, "HIGH", true},
		{"3.1", 10.1, "", false}, {"2.0", -1, "", false}, {"1.0", 5, "", false},
	}
	for _, tt := range tests {
		got, err := Severity(tt.version, tt.score)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Severity(%s, %v) = %q, %v; want %q ok=%v", tt.version, tt.score, got, err, tt.want, tt.ok)
		}
	}
}

func TestSupportedVersion(t *testing.T) {
	tests := map[string]bool{
		"5.0": true, "5.1": true, "5.2": true, "5.1.1": true, "5.2.0": true, "5.0.10": true,
		"5.3": false, "5.10": false, "4.0": false, "5": false, "5.": false, "5.1.": false, "5.1.x": false,
		"6.0": false, "": false, " 5.1": false,
	}
	for v, want := range tests {
		if got := supportedVersion(v); got != want {
			t.Errorf("supportedVersion(%q) = %v, want %v", v, got, want)
		}
	}
}
