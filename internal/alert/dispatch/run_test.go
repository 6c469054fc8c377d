package dispatch_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
)

// TestRunOnWallClock runs the dispatcher loop on the real clock: an alert
// ingested while Run sleeps wakes it, is delivered, and cancelling the
// context stops Run.
func TestRunOnWallClock(t *testing.T) {
	got := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- struct{}{} }))
	defer srv.Close()
	cfg, err := config.Load([]byte("route: {receiver: hook, group_wait: 0s}\nreceivers:\n  - name: hook\n    webhook_configs: [{url: '" + srv.URL + "'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: memstore.New(), Integrations: ints, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx, time.Hour) }()
	if _, err := d.Ingest(context.Background(), alert.Alert{
		Labels: alert.LabelSet{"alertname": "A"}, Severity: alert.SeverityHigh, Source: alert.SourceFinding, StartsAt: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	<-got // delivered without waiting for the GC interval
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancellation", err)
	}
}
