package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Annotations set on a report whose results were cut to fit the bounds.
const (
	// AnnotationTruncated is "true" when results were left out.
	AnnotationTruncated = "kubeward.io/results-truncated"
	// AnnotationTotal is the number of results the audit produced.
	AnnotationTotal = "kubeward.io/results-total"
	// AnnotationDropped is the number of results left out of the report.
	AnnotationDropped = "kubeward.io/results-dropped"
)

// Limits bound the size of one report so that the audit of a large
// namespace never writes an object etcd or the apiserver would choke on.
type Limits struct {
	// MaxResults is the most results one report keeps (default 1000).
	MaxResults int
	// MaxMessageBytes truncates each result message (default 1024).
	MaxMessageBytes int
	// MaxReportBytes bounds the report's JSON encoding (default 1 MiB;
	// etcd's default request limit is 1.5 MiB).
	MaxReportBytes int
}

// Default limits.
const (
	DefaultMaxResults      = 1000
	DefaultMaxMessageBytes = 1024
	DefaultMaxReportBytes  = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxResults <= 0 {
		l.MaxResults = DefaultMaxResults
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxReportBytes <= 0 {
		l.MaxReportBytes = DefaultMaxReportBytes
	}
	return l
}

// outcomeRank orders outcomes for keeping: lower ranks are kept first.
var outcomeRank = map[string]int{OutcomeError: 0, OutcomeFail: 1, OutcomeWarn: 2, OutcomeSkip: 3, OutcomePass: 4}

// severityRank orders severities: higher ranks are kept first.
var severityRank = map[string]int{"critical": 5, "high": 4, "medium": 3, "low": 2, "info": 1}

// compareResults orders results failures first, most severe first, then by
// resource, policy and rule so that reports are stable between passes.
func compareResults(a, b ReportResult) int {
	if c := cmp.Compare(outcomeRank[a.Result], outcomeRank[b.Result]); c != 0 {
		return c
	}
	if c := cmp.Compare(severityRank[b.Severity], severityRank[a.Severity]); c != 0 {
		return c
	}
	if c := cmp.Compare(resourceKey(a), resourceKey(b)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Policy, b.Policy); c != 0 {
		return c
	}
	return cmp.Compare(a.Rule, b.Rule)
}

func resourceKey(r ReportResult) string {
	if len(r.Resources) == 0 {
		return ""
	}
	o := r.Resources[0]
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Bound fills rep's Summary from every result, then keeps in rep.Results at
// most l.MaxResults results, failures by severity first, each message cut
// to l.MaxMessageBytes, and drops results from the least important end
// (passes first) until the report's JSON fits l.MaxReportBytes. When
// results were left out it sets the truncation annotations. It sorts
// results and truncates their messages in place. It returns the
// size of the report's JSON encoding, and an error when even the report
// without results exceeds the limit.
func Bound(rep *PolicyReport, results []ReportResult, l Limits) (int, error) {
	l = l.withDefaults()
	rep.Summary = Summary{}
	for _, r := range results {
		rep.Summary.Add(r.Result)
	}
	slices.SortStableFunc(results, compareResults)
	kept := results[:min(len(results), l.MaxResults)]
	for i := range kept {
		kept[i].Message = truncate(kept[i].Message, l.MaxMessageBytes)
	}

	// Reserve room for the truncation annotations so adding them cannot
	// push the report over the limit.
	setTruncation(rep, len(results), len(results))
	rep.Results = nil
	base, err := json.Marshal(rep)
	if err != nil {
		return 0, fmt.Errorf("encode report %s: %w", rep.Metadata.Name, err)
	}
	size := len(base) + len(`,"results":[]`)
	if size > l.MaxReportBytes {
		return 0, fmt.Errorf("report %s is %d bytes without results, over the %d-byte limit: raise the limit", rep.Metadata.Name, size, l.MaxReportBytes)
	}
	n := 0
	for ; n < len(kept); n++ {
		b, err := json.Marshal(kept[n])
		if err != nil {
			return 0, fmt.Errorf("encode result of report %s: %w", rep.Metadata.Name, err)
		}
		add := len(b)
		if n > 0 {
			add++ // comma
		}
		if size+add > l.MaxReportBytes {
			break
		}
		size += add
	}
	rep.Results = kept[:n:n]
	if n < len(results) {
		setTruncation(rep, len(results), len(results)-n)
	} else {
		clearTruncation(rep)
	}
	out, err := json.Marshal(rep)
	if err != nil {
		return 0, fmt.Errorf("encode report %s: %w", rep.Metadata.Name, err)
	}
	return len(out), nil
}

func setTruncation(rep *PolicyReport, total, dropped int) {
	if rep.Metadata.Annotations == nil {
		rep.Metadata.Annotations = map[string]string{}
	}
	rep.Metadata.Annotations[AnnotationTruncated] = "true"
	rep.Metadata.Annotations[AnnotationTotal] = strconv.Itoa(total)
	rep.Metadata.Annotations[AnnotationDropped] = strconv.Itoa(dropped)
}

func clearTruncation(rep *PolicyReport) {
	delete(rep.Metadata.Annotations, AnnotationTruncated)
	delete(rep.Metadata.Annotations, AnnotationTotal)
	delete(rep.Metadata.Annotations, AnnotationDropped)
	if len(rep.Metadata.Annotations) == 0 {
		rep.Metadata.Annotations = nil
	}
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut
// with an ellipsis.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	if max < len(mark) {
		return ""
	}
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
