package postgres_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/pgtest"
)

func TestAlertStorageContract(t *testing.T) {
	srv := pgtest.Shared(t)
	alerttest.RunStorageContract(t, func(t *testing.T) alert.Storage {
		s := open(t, srv.NewDatabase(t))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestAlertsKeepHostileText checks that label values and annotations that
// a text column could not hold (NUL bytes) survive a round trip: label
// sets are stored as json, which keeps \u0000.
func TestAlertsKeepHostileText(t *testing.T) {
	srv := pgtest.Shared(t)
	s := open(t, srv.NewDatabase(t))
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a := alert.Alert{
		Labels:      alert.LabelSet{"alertname": "Nul\x00Name", "severity": "high", "source": "detection", "cmd": "sh -c 'echo \x00'", "uni": "päth ☃"},
		Annotations: map[string]string{"output": "a\x00b"},
		Severity:    alert.SeverityHigh, Source: alert.SourceDetection,
		StartsAt: start, UpdatedAt: start, GeneratorID: "id\x00",
	}
	if err := s.PutAlerts(ctx, []alert.Alert{a}); err != nil {
		t.Fatalf("PutAlerts: %v", err)
	}
	got, err := s.GetAlert(ctx, a.Fingerprint())
	if err != nil {
		t.Fatalf("GetAlert: %v", err)
	}
	if !maps.Equal(got.Labels, a.Labels) || !maps.Equal(got.Annotations, a.Annotations) {
		t.Errorf("got labels %q annotations %q, want %q %q", got.Labels, got.Annotations, a.Labels, a.Annotations)
	}
	if got.GeneratorID != "id" {
		t.Errorf("generator ID %q, want the NUL dropped: %q", got.GeneratorID, "id")
	}
}
