package alertmanager_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/alertmanager"
)

func TestNotifyGolden(t *testing.T) {
	clock := alerttest.NewClock(alerttest.Base.Add(15 * time.Minute))
	srv := alerttest.NewRecorder(t, clock)
	n, err := alertmanager.New(alertmanager.Config{URL: srv.URL + "/"}, notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := notify.WithGroup(context.Background(), notify.Group{Key: "g", Interval: 5 * time.Minute})
	if retry, err := n.Notify(ctx, "am", "g", alerttest.SampleAlerts()); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/api/v2/alerts" {
		t.Fatalf("requests = %+v, want one POST /api/v2/alerts", reqs)
	}
	alerttest.GoldenJSON(t, filepath.Join("testdata", "alerts.json"), reqs[0].Body)

	var posted []alertmanager.PostableAlert
	if err := json.Unmarshal(reqs[0].Body, &posted); err != nil {
		t.Fatal(err)
	}
	// Firing alerts expire four group intervals after the post unless
	// re-posted; the resolved one carries its real end.
	if want := clock.Now().Add(20 * time.Minute); !posted[0].EndsAt.Equal(want) {
		t.Fatalf("firing endsAt = %v, want %v", posted[0].EndsAt, want)
	}
	if want := alerttest.Base.Add(10 * time.Minute); !posted[2].EndsAt.Equal(want) {
		t.Fatalf("resolved endsAt = %v, want %v", posted[2].EndsAt, want)
	}
}

func TestNotifyServerError(t *testing.T) {
	clock := alerttest.NewClock(alerttest.Base)
	srv := alerttest.NewRecorder(t, clock, alerttest.Response{Status: 400, Body: `{"code":400,"message":"bad labels"}`})
	n, err := alertmanager.New(alertmanager.Config{URL: srv.URL}, notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), "am", "g", alerttest.SampleAlerts())
	if err == nil || retry {
		t.Fatalf("Notify on 400 = %v, %v; want a non-retryable error", retry, err)
	}
}
