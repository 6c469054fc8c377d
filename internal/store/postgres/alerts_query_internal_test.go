package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/pgtest"
)

// TestAlertQueryPlans checks that QueryAlerts' page queries read an index
// in the order of the page (no sort), so that a page costs LIMIT rows
// however many alerts are stored, and that the common filters use their
// own index (a selective one may be read as a bitmap and its few rows
// sorted). The table holds enough analyzed rows for the planner to prefer
// indexes to a sequential scan where they pay.
func TestAlertQueryPlans(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Shared(t)
	s, err := Open(ctx, srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	severities := []alert.Severity{alert.SeverityCritical, alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow, alert.SeverityInfo}
	alerts := make([]alert.Alert, 5000)
	for i := range alerts {
		alerts[i] = alert.Alert{
			Labels:   alert.LabelSet{alert.LabelAlertName: fmt.Sprintf("A%03d", i%200), "pod": fmt.Sprintf("pod-%d", i)},
			Severity: severities[i%len(severities)], Source: alert.SourceFinding,
			StartsAt: base.Add(-time.Duration(i) * time.Second),
		}
	}
	if err := s.PutAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE alerts`); err != nil {
		t.Fatal(err)
	}
	yes := true
	tests := []struct {
		name    string
		q       alert.AlertQuery
		index   string
		ordered bool // read in order: no sort
	}{
		{"unfiltered", alert.AlertQuery{Limit: 50}, "alerts_order_idx", true},
		{"firing", alert.AlertQuery{Firing: &yes, Now: base, Limit: 50}, "alerts_order_idx", true},
		{"severity", alert.AlertQuery{Severities: []alert.Severity{alert.SeverityCritical}, Limit: 50}, "alerts_severity_order_idx", true},
		{"alertname", alert.AlertQuery{Matchers: []alert.Matcher{{Name: alert.LabelAlertName, Type: alert.MatchEqual, Value: "A007"}}, Limit: 50}, "alerts_alertname_order_idx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := tt.q.Plan()
			if err != nil {
				t.Fatal(err)
			}
			where, args, err := alertWhere(plan)
			if err != nil {
				t.Fatal(err)
			}
			query := `SELECT ` + alertColumns + ` FROM alerts` + where + alertOrder + ` LIMIT 50`
			rows, err := s.pool.Query(ctx, `EXPLAIN `+query, args...)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			var lines []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, strings.TrimSpace(line))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(lines, "; ")
			switch {
			case tt.ordered && (!strings.Contains(got, "Index Scan using "+tt.index) || strings.Contains(got, "Sort")):
				t.Errorf("%s\nplan: %s\nwant an index scan of %s, without sorting", query, got, tt.index)
			case !tt.ordered && !strings.Contains(got, "Index Scan on "+tt.index) && !strings.Contains(got, "Index Scan using "+tt.index):
				t.Errorf("%s\nplan: %s\nwant it to use %s", query, got, tt.index)
			}
		})
	}
}
