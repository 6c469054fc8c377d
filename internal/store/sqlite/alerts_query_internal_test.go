package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// TestAlertQueryPlans checks that QueryAlerts' page queries read an index
// in the order of the page, so that a page costs LIMIT index entries
// however many alerts are stored, that the common filters use their own
// index, and that the page's rows are then read by primary key.
func TestAlertQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "kubeward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	yes := true
	tests := []struct {
		name     string
		q        alert.AlertQuery
		index    string
		covering bool // the index alone answers
	}{
		{"unfiltered", alert.AlertQuery{Limit: 50}, "alerts_order_idx", true},
		{"firing", alert.AlertQuery{Firing: &yes, Now: time.Now(), Limit: 50}, "alerts_order_idx", false},
		{"severity", alert.AlertQuery{Severities: []alert.Severity{alert.SeverityCritical}, Limit: 50}, "alerts_severity_order_idx", true},
		{"alertname", alert.AlertQuery{Matchers: []alert.Matcher{{Name: alert.LabelAlertName, Type: alert.MatchEqual, Value: "X"}}, Limit: 50}, "alerts_alertname_order_idx", true},
		{"namespace", alert.AlertQuery{Matchers: []alert.Matcher{{Name: "namespace", Type: alert.MatchEqual, Value: "prod"}}, Limit: 50}, "alerts_namespace_order_idx", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := tt.q.Plan()
			if err != nil {
				t.Fatal(err)
			}
			where, args := alertWhere(plan)
			query := `SELECT fingerprint, version FROM alerts` + where + alertOrder + ` LIMIT ? OFFSET ?`
			got := explain(t, s, query, append(args, 50, 0)...)
			if !strings.Contains(got, tt.index) || strings.Contains(got, "USE TEMP B-TREE") {
				t.Errorf("%s\nplan: %s\nwant it to read %s in order, without sorting", query, got, tt.index)
			}
			if tt.covering && !strings.Contains(got, "COVERING INDEX "+tt.index) {
				t.Errorf("%s\nplan: %s\nwant it to read the index %s alone", query, got, tt.index)
			}
		})
	}
	// The rows of a page's alerts that are not cached are read by key.
	query := `SELECT version, fingerprint, ` + alertReadColumns + ` FROM alerts WHERE fingerprint IN (SELECT value FROM json_each(?))`
	if got := explain(t, s, query, `["0000000000000001"]`); !strings.Contains(got, "sqlite_autoindex_alerts_1") {
		t.Errorf("%s\nplan: %s\nwant it to look the alerts up by primary key", query, got)
	}
}

// explain returns SQLite's query plan for query, its steps joined by "; ".
func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
