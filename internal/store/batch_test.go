package store

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
)

var t0 = time.Date(2024, 10, 22, 8, 30, 15, 123000000, time.UTC)

func TestPageLimitAndOffset(t *testing.T) {
	for _, tc := range []struct{ limit, offset, wantLimit, wantOffset int }{
		{0, 0, DefaultLimit, 0},
		{-1, -1, DefaultLimit, 0},
		{1, 5, 1, 5},
		{MaxLimit, 0, MaxLimit, 0},
		{MaxLimit + 1, 0, MaxLimit, 0},
	} {
		q := CVEQuery{Limit: tc.limit, Offset: tc.offset}
		if got := q.PageLimit(); got != tc.wantLimit {
			t.Errorf("PageLimit(%d) = %d, want %d", tc.limit, got, tc.wantLimit)
		}
		if got := q.PageOffset(); got != tc.wantOffset {
			t.Errorf("PageOffset(%d) = %d, want %d", tc.offset, got, tc.wantOffset)
		}
	}
}

func TestSearchTerms(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"CVE-2021-44228", []string{"cve", "2021", "44228"}},
		{`"log4j" AND (jndi OR ldap)*`, []string{"log4j", "and", "jndi", "or", "ldap"}},
		{"Log4j log4J LOG4J", []string{"log4j"}},
		{"Zürich café 日本語", []string{"zürich", "café", "日本語"}},
		{`'; DROP TABLE cves; --`, []string{"drop", "table", "cves"}},
		{"\x00\xff\xfe", nil},
		{strings.Repeat("a", 100), []string{strings.Repeat("a", maxTermLen)}},
		{strings.Repeat("w ", 10) + "a b c d e f g h i j k l m n o p q r", []string{"w", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"}},
	} {
		if diff := cmp.Diff(tc.want, SearchTerms(tc.text)); diff != "" {
			t.Errorf("SearchTerms(%q) differs (-want +got):\n%s", tc.text, diff)
		}
	}
}

func TestSearchText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"CVE-2021-44228", "CVE 2021 44228"},
		{"  cross-site  scripting (XSS).", "cross site scripting XSS"},
		{"ünïcödé—dash", "ünïcödé dash"},
	} {
		if got := SearchText(tc.in); got != tc.want {
			t.Errorf("SearchText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzSearchTerms checks that any text becomes terms of letters and digits
// only, bounded in number and length: nothing of it can be query syntax.
func FuzzSearchTerms(f *testing.F) {
	for _, s := range []string{"CVE-2021-44228", `"a" OR b*`, "NEAR(a b, 2)", "日本語 ＬＯＧ４Ｊ", "\x00\xff", strings.Repeat("x", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		terms := SearchTerms(text)
		if len(terms) > MaxSearchTerms {
			t.Fatalf("%d terms, want at most %d", len(terms), MaxSearchTerms)
		}
		seen := map[string]bool{}
		for _, term := range terms {
			if term == "" || len(term) > maxTermLen || !utf8.ValidString(term) || seen[term] {
				t.Fatalf("bad term %q in %q", term, terms)
			}
			seen[term] = true
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					t.Fatalf("term %q holds %q", term, r)
				}
			}
		}
		if st := SearchText(text); strings.Contains(st, "  ") || strings.TrimSpace(st) != st {
			t.Fatalf("SearchText(%q) = %q: runs of spaces", text, st)
		}
	})
}

func rec(id string, updated time.Time, title string) *cve.Record {
	return &cve.Record{ID: id, State: cve.StatePublished, DateUpdated: updated, Title: title}
}

func TestLatestVersions(t *testing.T) {
	tests := []struct {
		name        string
		in          []*cve.Record
		wantTitles  []string // sorted by ID
		wantSkipped int
		wantErr     error
	}{
		{"empty", nil, []string{}, 0, nil},
		{"distinct, sorted by ID", []*cve.Record{rec("CVE-2", t0, "b"), rec("CVE-1", t0, "a")}, []string{"a", "b"}, 0, nil},
		{"latest wins", []*cve.Record{rec("CVE-1", t0, "old"), rec("CVE-1", t0.Add(time.Second), "new"), rec("CVE-1", t0.Add(-time.Second), "older")}, []string{"new"}, 2, nil},
		{"first of equals wins", []*cve.Record{rec("CVE-1", t0, "first"), rec("CVE-1", t0, "second")}, []string{"first"}, 1, nil},
		{"undated loses", []*cve.Record{rec("CVE-1", time.Time{}, "undated"), rec("CVE-1", t0, "dated")}, []string{"dated"}, 1, nil},
		{"nil record", []*cve.Record{rec("CVE-1", t0, "a"), nil}, nil, 0, ErrInvalid},
		{"no ID", []*cve.Record{rec("", t0, "a")}, nil, 0, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := LatestVersions(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			titles := []string{}
			for _, r := range got {
				titles = append(titles, r.Title)
			}
			if diff := cmp.Diff(tc.wantTitles, titles); diff != "" || skipped != tc.wantSkipped {
				t.Errorf("titles (-want +got):\n%s\nskipped %d, want %d", diff, skipped, tc.wantSkipped)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	for _, tc := range []struct {
		name              string
		candidate, stored time.Time
		want              bool
	}{
		{"later", t0.Add(time.Millisecond), t0, true},
		{"equal", t0, t0, false},
		{"earlier", t0.Add(-time.Hour), t0, false},
		{"same instant, other zone", t0.In(time.FixedZone("X", 3600)), t0, false},
		{"below precision", t0.Add(TimePrecision - 1), t0, false},
		{"at precision", t0.Add(TimePrecision), t0, true},
		{"undated candidate", time.Time{}, t0, false},
		{"undated stored", t0, time.Time{}, true},
		{"both undated", time.Time{}, time.Time{}, false},
	} {
		if got := Newer(tc.candidate, tc.stored); got != tc.want {
			t.Errorf("%s: Newer = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUniqueKEV(t *testing.T) {
	got, err := UniqueKEV([]kev.Entry{{CVEID: "CVE-1", Product: "a"}, {CVEID: "CVE-2"}, {CVEID: "CVE-1", Product: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]kev.Entry{{CVEID: "CVE-1", Product: "b"}, {CVEID: "CVE-2"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := UniqueKEV([]kev.Entry{{}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("entry without ID: %v, want ErrInvalid", err)
	}
}

func TestLatestEPSS(t *testing.T) {
	d1, d2 := t0, t0.AddDate(0, 0, 1)
	got, err := LatestEPSS([]epss.Score{
		{CVEID: "CVE-1", Score: 0.1, Date: d1}, {CVEID: "CVE-1", Score: 0.2, Date: d2},
		{CVEID: "CVE-1", Score: 0.3, Date: d2}, {CVEID: "CVE-2", Score: 1, Percentile: 1, Date: d1},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []epss.Score{{CVEID: "CVE-1", Score: 0.2, Date: d2}, {CVEID: "CVE-2", Score: 1, Percentile: 1, Date: d1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []epss.Score{{Date: d1}, {CVEID: "CVE-1"}, {CVEID: "CVE-1", Date: d1, Score: -0.1}, {CVEID: "CVE-1", Date: d1, Percentile: 2}} {
		if _, err := LatestEPSS([]epss.Score{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("LatestEPSS(%+v): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestIndex(t *testing.T) {
	r := &cve.Record{
		ID: "CVE-2024-1", Title: "SQL-injection",
		Descriptions: []cve.Description{{Lang: "es", Value: "hola"}, {Lang: "en-US", Value: "Hello, world"}},
		Problems:     []cve.Problem{{CWEID: "CWE-89"}, {CWEID: "CWE-89"}, {CWEID: "CWE-20"}},
		Metrics:      []cve.Metric{{Format: "CVSS", BaseScore: 5, Severity: "medium"}, {Format: "CVSS", BaseScore: 9.8, Severity: "critical"}},
		KEV:          &cve.KEV{},
	}
	want := Indexed{Description: "Hello, world", Severity: "CRITICAL", Score: 9.8, KEV: true, CWEs: []string{"CWE-89", "CWE-20"},
		SearchID: "CVE 2024 1", SearchTitle: "SQL injection", SearchBody: "hola Hello world"}
	if diff := cmp.Diff(want, Index(r)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestObserveUpsert(t *testing.T) {
	const backend = "test"
	ObserveUpsert(backend, 3, UpsertResult{Written: 2, Skipped: 1}, nil, time.Now())
	ObserveUpsert(backend, 4, UpsertResult{}, ErrInvalid, time.Now())
	ObserveUpsert(backend, 5, UpsertResult{}, errors.New("connection lost"), time.Now())
	for result, want := range map[string]float64{"written": 2, "skipped": 1, "invalid": 4} {
		if got := testutil.ToFloat64(upsertRecords.WithLabelValues(backend, result)); got != want {
			t.Errorf("%s = %v, want %v", result, got, want)
		}
	}
	if n := testutil.CollectAndCount(opDuration, "kubeward_store_operation_duration_seconds"); n != 2 {
		t.Errorf("%d duration series, want 2 (ok, error)", n)
	}
}
