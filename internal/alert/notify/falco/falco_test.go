package falco_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/falco"
)

func TestNotifyGolden(t *testing.T) {
	clock := alerttest.NewClock(alerttest.Base.Add(15 * time.Minute))
	srv := alerttest.NewRecorder(t, clock)
	n, err := falco.New(falco.Config{URL: srv.URL + "/", SendResolved: new(true)}, notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := n.Notify(context.Background(), "falco", "g", alerttest.SampleAlerts()); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want one per alert (3)", len(reqs))
	}
	for i, r := range reqs {
		alerttest.GoldenJSON(t, filepath.Join("testdata", fmt.Sprintf("event%d.json", i)), r.Body)
	}
}

func TestPriority(t *testing.T) {
	for sev, want := range map[alert.Severity]string{
		alert.SeverityCritical: "Critical", alert.SeverityHigh: "Error", alert.SeverityMedium: "Warning",
		alert.SeverityLow: "Notice", alert.SeverityInfo: "Informational",
	} {
		if got := falco.Priority(sev); got != want {
			t.Errorf("Priority(%s) = %s, want %s", sev, got, want)
		}
	}
}

func TestNotifyStopsAtFirstFailure(t *testing.T) {
	clock := alerttest.NewClock(alerttest.Base)
	srv := alerttest.NewRecorder(t, clock, alerttest.Response{Status: 200}, alerttest.Response{Status: 503, Body: "down"})
	n, err := falco.New(falco.Config{URL: srv.URL}, notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), "falco", "g", alerttest.SampleAlerts())
	if err == nil || !retry {
		t.Fatalf("Notify = %v, %v; want a retryable error", retry, err)
	}
	if got := len(srv.Requests()); got != 2 {
		t.Fatalf("%d requests, want 2 (stop at the failing one)", got)
	}
}
