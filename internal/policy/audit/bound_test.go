package audit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func result(outcome, severity, name string, msgLen int) ReportResult {
	return ReportResult{
		Policy: "pss-restricted", Rule: "privileged", Result: outcome, Severity: severity,
		Message:   strings.Repeat("m", msgLen),
		Resources: []ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: name}},
	}
}

// mixed returns n results cycling through every outcome and severity.
func mixed(n, msgLen int) []ReportResult {
	outcomes := []string{OutcomePass, OutcomeSkip, OutcomeFail, OutcomeWarn, OutcomeError}
	sevs := []string{"info", "low", "medium", "high", "critical", ""}
	out := make([]ReportResult, n)
	for i := range out {
		out[i] = result(outcomes[i%len(outcomes)], sevs[i%len(sevs)], fmt.Sprintf("pod-%05d", i), msgLen)
	}
	return out
}

func TestBound(t *testing.T) {
	tests := []struct {
		name    string
		results []ReportResult
		limits  Limits
	}{
		{name: "empty", results: nil, limits: Limits{}},
		{name: "under every limit", results: mixed(40, 20), limits: Limits{}},
		{name: "count cap", results: mixed(500, 20), limits: Limits{MaxResults: 100}},
		{name: "size cap", results: mixed(500, 200), limits: Limits{MaxReportBytes: 20 << 10}},
		{name: "long messages", results: mixed(30, 5000), limits: Limits{MaxMessageBytes: 64}},
		{name: "all three", results: mixed(3000, 3000), limits: Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.limits.withDefaults()
			var want Summary
			for _, r := range tt.results {
				want.Add(r.Result)
			}
			total := len(tt.results)
			rep := &PolicyReport{APIVersion: Group + "/" + Version, Kind: KindPolicyReport,
				Metadata: ReportMeta{Name: "kubeward-ns", Namespace: "ns"}}
			size, err := Bound(rep, tt.results, tt.limits)
			if err != nil {
				t.Fatalf("Bound: %v", err)
			}
			if rep.Summary != want {
				t.Errorf("summary %+v, want %+v (every result counted)", rep.Summary, want)
			}
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			if size != len(b) {
				t.Errorf("Bound reported %d bytes, encoding is %d", size, len(b))
			}
			if len(b) > l.MaxReportBytes {
				t.Errorf("report is %d bytes, over the %d limit", len(b), l.MaxReportBytes)
			}
			if len(rep.Results) > l.MaxResults {
				t.Errorf("%d results kept, cap %d", len(rep.Results), l.MaxResults)
			}
			for i, r := range rep.Results {
				if len(r.Message) > l.MaxMessageBytes || !utf8.ValidString(r.Message) {
					t.Errorf("result %d message is %d bytes (cap %d) or invalid UTF-8", i, len(r.Message), l.MaxMessageBytes)
				}
				if i > 0 && compareResults(rep.Results[i-1], r) > 0 {
					t.Errorf("result %d (%s %s) kept after a less important one (%s %s)", i, r.Result, r.Severity,
						rep.Results[i-1].Result, rep.Results[i-1].Severity)
				}
			}
			// Whatever was dropped is no more important than what was kept.
			if n := len(rep.Results); n > 0 && n < total {
				last := rep.Results[n-1]
				for _, r := range tt.results[n:] {
					if compareResults(r, last) < 0 {
						t.Errorf("dropped %s/%s %s but kept %s/%s %s", r.Result, r.Severity, resourceKey(r), last.Result, last.Severity, resourceKey(last))
						break
					}
				}
			}
			dropped := total - len(rep.Results)
			if dropped > 0 {
				if rep.Metadata.Annotations[AnnotationTruncated] != "true" ||
					rep.Metadata.Annotations[AnnotationDropped] != strconv.Itoa(dropped) ||
					rep.Metadata.Annotations[AnnotationTotal] != strconv.Itoa(total) {
					t.Errorf("truncation annotations %v, want dropped %d of %d", rep.Metadata.Annotations, dropped, total)
				}
			} else if len(rep.Metadata.Annotations) != 0 {
				t.Errorf("untruncated report has annotations %v", rep.Metadata.Annotations)
			}
		})
	}
}

func TestBoundRejectsImpossibleLimit(t *testing.T) {
	rep := &PolicyReport{Metadata: ReportMeta{Name: strings.Repeat("n", 300)}}
	if _, err := Bound(rep, mixed(3, 10), Limits{MaxReportBytes: 100}); err == nil {
		t.Fatal("Bound accepted a limit smaller than the empty report")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in  string
		max int
	}{
		{"short", 10},
		{"exactly10!", 10},
		{"a longer message than allowed", 10},
		{"ééééééééééééé", 8},
		{"日本語のメッセージ", 7},
		{"abcdef", 2},
		{"abcdef", 3},
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.max)
		if len(got) > tt.max || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q: %d bytes or invalid UTF-8", tt.in, tt.max, got, len(got))
		}
		if len(tt.in) <= tt.max && got != tt.in {
			t.Errorf("truncate(%q, %d) = %q, want it unchanged", tt.in, tt.max, got)
		}
		if len(tt.in) > tt.max && tt.max >= len("…") && !strings.HasSuffix(got, "…") {
			t.Errorf("truncate(%q, %d) = %q, want the cut marked", tt.in, tt.max, got)
		}
		if p := strings.TrimSuffix(got, "…"); !strings.HasPrefix(tt.in, p) {
			t.Errorf("truncate(%q, %d) = %q is not a prefix", tt.in, tt.max, got)
		}
	}
}
