package alerttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// QueryAlerts returns, independently of any store, what
// AlertStore.QueryAlerts must return for q over all: the selected alerts
// in alert.AlertOrder, paged, and how many were selected. It is the
// oracle of the query contract and of the tests of QueryAlerts' callers.
func QueryAlerts(all []alert.Alert, q alert.AlertQuery) ([]alert.Alert, int, error) {
	ms, err := alert.CompileMatchers(q.Matchers)
	if err != nil {
		return nil, 0, err
	}
	var sel []alert.Alert
	for _, a := range all {
		switch {
		case q.Firing != nil && *q.Firing == a.Resolved(q.Now),
			len(q.Severities) > 0 && !slices.Contains(q.Severities, a.Severity),
			len(q.Sources) > 0 && !slices.Contains(q.Sources, a.Source),
			q.Acknowledged != nil && *q.Acknowledged != (a.Ack != nil),
			!ms.Matches(a.Labels),
			q.Keep != nil && !q.Keep(&a):
			continue
		}
		sel = append(sel, a)
	}
	slices.SortFunc(sel, func(a, b alert.Alert) int { return alert.AlertOrder(&a, &b) })
	total := len(sel)
	sel = sel[min(q.Offset, len(sel)):]
	if q.Limit > 0 {
		sel = sel[:min(q.Limit, len(sel))]
	}
	return sel, total, nil
}

// queryBase and queryNow are the times of the query contract's alerts.
var (
	queryBase = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	queryNow  = queryBase.Add(time.Hour)
)

// QueryDataset returns the alerts the query contract stores: 60 alerts
// over four alertnames, three namespaces (and none), every severity and
// source, firing, resolved and resolved exactly at the query time,
// acknowledged or not, pairs that start at the same instant (ordered by
// fingerprint) and label values a store could mangle (a NUL byte, quotes
// and JSON/HTML-special characters, non-ASCII text).
func QueryDataset() []alert.Alert {
	severities := []alert.Severity{alert.SeverityCritical, alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow, alert.SeverityInfo}
	sources := []alert.Source{alert.SourceFinding, alert.SourceViolation, alert.SourceDetection, alert.SourceAnomaly}
	hostile := []string{"a\x00b", `quote" <b>&</b> \ back`, "päth ☃ 日本", "'; DROP TABLE alerts; --"}
	out := make([]alert.Alert, 60)
	for i := range out {
		a := alert.Alert{
			Labels: alert.LabelSet{
				alert.LabelAlertName: fmt.Sprintf("A%d", i%4),
				"pod":                fmt.Sprintf("pod-%02d", i),
			},
			Annotations: map[string]string{"summary": fmt.Sprintf("alert %d", i)},
			Severity:    severities[i%len(severities)],
			Source:      sources[i%len(sources)],
			// Alerts 2k and 2k+1 start at the same instant.
			StartsAt:     queryBase.Add(-time.Duration(i/2) * time.Minute),
			UpdatedAt:    queryBase,
			GeneratorID:  fmt.Sprintf("finding/%d", i),
			GeneratorURL: fmt.Sprintf("https://kubeward.example/findings/%d", i),
		}
		a.Labels[alert.LabelSeverity], a.Labels[alert.LabelSource] = string(a.Severity), string(a.Source)
		if i%5 != 0 {
			a.Labels["namespace"] = fmt.Sprintf("ns-%d", i%3)
		}
		if i%6 == 1 {
			a.Labels["cmd"] = hostile[(i/6)%len(hostile)]
		}
		switch {
		case i%3 == 0:
			a.EndsAt = queryBase.Add(30 * time.Minute) // resolved
		case i%7 == 0:
			a.EndsAt = queryNow // resolved exactly at the query time
		case i%11 == 0:
			a.EndsAt = queryNow.Add(time.Millisecond) // still firing
		}
		if i%4 == 1 {
			a.Ack = &alert.Ack{By: "alice", Comment: "looking", At: queryBase.Add(time.Minute)}
		}
		out[i] = a
	}
	return out
}

// runQueryContract checks QueryAlerts against the QueryAlerts oracle.
func runQueryContract(t *testing.T, newStorage func(t *testing.T) alert.Storage) {
	ctx := context.Background()
	yes, no := true, false
	eq := func(name, value string) alert.Matcher {
		return alert.Matcher{Name: name, Type: alert.MatchEqual, Value: value}
	}
	ne := func(name, value string) alert.Matcher {
		return alert.Matcher{Name: name, Type: alert.MatchNotEqual, Value: value}
	}
	re := func(name, value string) alert.Matcher {
		return alert.Matcher{Name: name, Type: alert.MatchRegexp, Value: value}
	}
	nre := func(name, value string) alert.Matcher {
		return alert.Matcher{Name: name, Type: alert.MatchNotRegexp, Value: value}
	}
	evenPod := func(a *alert.Alert) bool {
		pod := a.Labels["pod"]
		return strings.ContainsAny(pod[len(pod)-1:], "02468")
	}
	tests := []struct {
		name string
		q    alert.AlertQuery
	}{
		{"all", alert.AlertQuery{}},
		{"first-page", alert.AlertQuery{Limit: 7}},
		{"second-page", alert.AlertQuery{Limit: 7, Offset: 7}},
		{"last-partial-page", alert.AlertQuery{Limit: 7, Offset: 56}},
		{"offset-past-the-end", alert.AlertQuery{Limit: 7, Offset: 100}},
		{"offset-without-limit", alert.AlertQuery{Offset: 50}},
		{"firing", alert.AlertQuery{Firing: &yes, Now: queryNow}},
		{"resolved", alert.AlertQuery{Firing: &no, Now: queryNow, Limit: 5}},
		{"severities", alert.AlertQuery{Severities: []alert.Severity{alert.SeverityCritical, alert.SeverityLow}}},
		{"one-severity-paged", alert.AlertQuery{Severities: []alert.Severity{alert.SeverityHigh}, Limit: 3, Offset: 3}},
		{"sources", alert.AlertQuery{Sources: []alert.Source{alert.SourceDetection}}},
		{"acknowledged", alert.AlertQuery{Acknowledged: &yes}},
		{"not-acknowledged", alert.AlertQuery{Acknowledged: &no, Limit: 10}},
		{"label-equal", alert.AlertQuery{Matchers: []alert.Matcher{eq("namespace", "ns-1")}}},
		{"label-equal-empty-is-missing", alert.AlertQuery{Matchers: []alert.Matcher{eq("namespace", "")}}},
		{"label-not-equal-includes-missing", alert.AlertQuery{Matchers: []alert.Matcher{ne("namespace", "ns-1")}}},
		{"label-not-equal-empty-is-present", alert.AlertQuery{Matchers: []alert.Matcher{ne("namespace", "")}}},
		{"label-never-set", alert.AlertQuery{Matchers: []alert.Matcher{eq("team", "")}, Limit: 4}},
		{"label-never-set-value", alert.AlertQuery{Matchers: []alert.Matcher{eq("team", "x")}}},
		{"alertname", alert.AlertQuery{Matchers: []alert.Matcher{eq(alert.LabelAlertName, "A2")}, Limit: 5, Offset: 5}},
		{"alertname-not", alert.AlertQuery{Matchers: []alert.Matcher{ne(alert.LabelAlertName, "A2")}}},
		{"alertname-missing", alert.AlertQuery{Matchers: []alert.Matcher{eq(alert.LabelAlertName, "")}}},
		{"nul-byte", alert.AlertQuery{Matchers: []alert.Matcher{eq("cmd", "a\x00b")}}},
		{"nul-byte-prefix", alert.AlertQuery{Matchers: []alert.Matcher{eq("cmd", "a")}}},
		{"json-special", alert.AlertQuery{Matchers: []alert.Matcher{eq("cmd", `quote" <b>&</b> \ back`)}}},
		{"non-ascii", alert.AlertQuery{Matchers: []alert.Matcher{eq("cmd", "päth ☃ 日本")}}},
		{"sql-text", alert.AlertQuery{Matchers: []alert.Matcher{eq("cmd", "'; DROP TABLE alerts; --")}}},
		{"not-hostile", alert.AlertQuery{Matchers: []alert.Matcher{ne("cmd", "a\x00b"), ne("cmd", "")}}},
		{"regexp", alert.AlertQuery{Matchers: []alert.Matcher{re("namespace", "ns-[12]")}, Limit: 6, Offset: 2}},
		{"not-regexp-includes-missing", alert.AlertQuery{Matchers: []alert.Matcher{nre("namespace", "ns-.*")}}},
		{"regexp-past-the-end", alert.AlertQuery{Matchers: []alert.Matcher{re(alert.LabelAlertName, "A[13]")}, Limit: 10, Offset: 40}},
		{"keep", alert.AlertQuery{Keep: evenPod, Limit: 4, Offset: 3}},
		{"everything", alert.AlertQuery{
			Firing: &yes, Now: queryNow, Severities: []alert.Severity{alert.SeverityHigh, alert.SeverityLow, alert.SeverityInfo},
			Sources:      []alert.Source{alert.SourceFinding, alert.SourceViolation, alert.SourceDetection},
			Matchers:     []alert.Matcher{ne("namespace", "ns-0"), re("pod", "pod-[0-4].*"), ne(alert.LabelAlertName, "A0")},
			Acknowledged: &no, Keep: func(a *alert.Alert) bool { return a.Labels["pod"] != "pod-22" }, Limit: 2, Offset: 1,
		}},
	}
	t.Run("query/oracle", func(t *testing.T) {
		s := newStorage(t)
		data := QueryDataset()
		if err := s.PutAlerts(ctx, data); err != nil {
			t.Fatalf("PutAlerts: %v", err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want, wantTotal, err := QueryAlerts(data, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				q := tt.q
				var seen []alert.Alert
				if keep := tt.q.Keep; keep != nil {
					q.Keep = func(a *alert.Alert) bool {
						seen = append(seen, a.Clone())
						return keep(a)
					}
				}
				got, total, err := s.QueryAlerts(ctx, q)
				if err != nil {
					t.Fatalf("QueryAlerts: %v", err)
				}
				if total != wantTotal || len(got) != len(want) {
					t.Fatalf("QueryAlerts: %d alerts of %d, want %d of %d", len(got), total, len(want), wantTotal)
				}
				for i := range want {
					if got[i].Fingerprint() != want[i].Fingerprint() {
						t.Fatalf("alert %d is %s (pod %s), want %s (pod %s)", i, got[i].Fingerprint(), got[i].Labels["pod"], want[i].Fingerprint(), want[i].Labels["pod"])
					}
					assertAlert(t, got[i], want[i])
				}
				// Keep sees, in order, exactly the alerts every other
				// condition selects.
				if q.Keep != nil {
					rest := tt.q
					rest.Keep, rest.Limit, rest.Offset = nil, 0, 0
					candidates, _, err := QueryAlerts(data, rest)
					if err != nil {
						t.Fatal(err)
					}
					if len(seen) != len(candidates) {
						t.Fatalf("Keep saw %d alerts, want the %d that the other conditions select", len(seen), len(candidates))
					}
					for i := range seen {
						if seen[i].Fingerprint() != candidates[i].Fingerprint() {
							t.Fatalf("Keep saw alert %d = %s, want %s", i, seen[i].Fingerprint(), candidates[i].Fingerprint())
						}
					}
				}
				// The returned alerts are copies.
				if len(got) > 0 {
					got[0].Labels["pod"] = "mutated"
					again, _, err := s.QueryAlerts(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if again[0].Labels["pod"] == "mutated" {
						t.Fatal("modifying an alert QueryAlerts returned changed the store")
					}
				}
			})
		}
	})

	t.Run("query/sees-every-write", func(t *testing.T) {
		s := newStorage(t)
		data := QueryDataset()[:10]
		if err := s.PutAlerts(ctx, data); err != nil {
			t.Fatal(err)
		}
		AssertQuery(t, s, data, alert.AlertQuery{Limit: 5})
		// Change what a page shows (stores may cache what they read).
		changed := slices.Clone(data)
		for i := range changed {
			changed[i] = changed[i].Clone()
		}
		changed[0].Annotations["summary"] = "changed"
		changed[1].Ack = &alert.Ack{By: "bob", At: queryBase}
		changed[2].EndsAt = queryBase.Add(time.Minute)
		if err := s.PutAlerts(ctx, changed[:3]); err != nil {
			t.Fatal(err)
		}
		AssertQuery(t, s, changed, alert.AlertQuery{Limit: 5})
		if _, err := s.DeleteAlertsResolvedBefore(ctx, queryNow); err != nil {
			t.Fatal(err)
		}
		var left []alert.Alert
		for _, a := range changed {
			if a.EndsAt.IsZero() || !a.EndsAt.Before(queryNow) {
				left = append(left, a)
			}
		}
		AssertQuery(t, s, left, alert.AlertQuery{Limit: 5})
	})

	t.Run("query/empty-store", func(t *testing.T) {
		s := newStorage(t)
		for _, q := range []alert.AlertQuery{{}, {Limit: 10, Offset: 10}, {Matchers: []alert.Matcher{re("x", ".*")}}} {
			got, total, err := s.QueryAlerts(ctx, q)
			if err != nil || len(got) != 0 || total != 0 {
				t.Fatalf("QueryAlerts(%+v) on an empty store: %d alerts of %d, err %v; want none", q, len(got), total, err)
			}
		}
	})

	t.Run("query/invalid", func(t *testing.T) {
		s := newStorage(t)
		for _, tt := range []struct {
			name string
			q    alert.AlertQuery
		}{
			{"negative-limit", alert.AlertQuery{Limit: -1}},
			{"negative-offset", alert.AlertQuery{Offset: -1}},
			{"firing-without-now", alert.AlertQuery{Firing: &yes}},
			{"severity", alert.AlertQuery{Severities: []alert.Severity{"urgent"}}},
			{"source", alert.AlertQuery{Sources: []alert.Source{"sensor"}}},
			{"label-name", alert.AlertQuery{Matchers: []alert.Matcher{eq("1st", "x")}}},
			{"label-name-injection", alert.AlertQuery{Matchers: []alert.Matcher{eq("a')--", "x")}}},
			{"regexp", alert.AlertQuery{Matchers: []alert.Matcher{re("pod", "(")}}},
			{"operator", alert.AlertQuery{Matchers: []alert.Matcher{{Name: "pod", Type: "~", Value: "x"}}}},
		} {
			if _, _, err := s.QueryAlerts(ctx, tt.q); !errors.Is(err, alert.ErrInvalidQuery) {
				t.Errorf("%s: QueryAlerts returned %v, want an error wrapping ErrInvalidQuery", tt.name, err)
			}
		}
	})
}

// AssertQuery checks that s answers q over its alerts, stored, as the
// QueryAlerts oracle does.
func AssertQuery(t *testing.T, s alert.AlertStore, stored []alert.Alert, q alert.AlertQuery) {
	t.Helper()
	want, wantTotal, err := QueryAlerts(stored, q)
	if err != nil {
		t.Fatal(err)
	}
	got, total, err := s.QueryAlerts(context.Background(), q)
	if err != nil {
		t.Fatalf("QueryAlerts: %v", err)
	}
	if total != wantTotal || len(got) != len(want) {
		t.Fatalf("QueryAlerts: %d alerts of %d, want %d of %d", len(got), total, len(want), wantTotal)
	}
	for i := range want {
		assertAlert(t, got[i], want[i])
	}
}
