package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAlertQueriesUseIndexes checks that the alert pipeline's lookups and
// prunes never scan a whole table, so that they stay cheap however many
// alerts, silences and notification log entries accumulate.
func TestAlertQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "kubeward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := fmtTime(time.Now())
	tests := []struct {
		query string
		args  []any
		index string
	}{
		{`SELECT ` + alertColumns + ` FROM alerts WHERE fingerprint = ?`, []any{"0000000000000001"}, "sqlite_autoindex_alerts_1"},
		{`DELETE FROM alerts WHERE ends_at IS NOT NULL AND ends_at < ?`, []any{now}, "alerts_ends_at_idx"},
		{`SELECT ` + silenceColumns + ` FROM alert_silences ORDER BY starts_at, id`, nil, "alert_silences_starts_idx"},
		{`DELETE FROM alert_silences WHERE ends_at < ?`, []any{now}, "alert_silences_ends_idx"},
		{`SELECT alert_set_hash FROM alert_notifications WHERE integration = ? AND group_key = ?`, []any{"r/slack/0", "g"}, "sqlite_autoindex_alert_notifications_1"},
		{`DELETE FROM alert_notifications WHERE expires_at < ?`, []any{now}, "alert_notifications_expires_idx"},
	}
	for _, tt := range tests {
		rows, err := s.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, tt.index) || strings.Contains(got, "USE TEMP B-TREE") {
			t.Errorf("%s\nplan: %s\nwant it to use %s without sorting", tt.query, got, tt.index)
		}
	}
}
