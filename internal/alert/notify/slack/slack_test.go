package slack_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/slack"
)

func TestNotifyGolden(t *testing.T) {
	tests := []struct {
		name    string
		channel string // route override
		golden  string
	}{
		{"route channel overrides config", "#falco-alerts", "firing_route_channel.json"},
		{"config channel", "", "firing_config_channel.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := alerttest.NewClock(alerttest.Base.Add(15 * time.Minute))
			srv := alerttest.NewRecorder(t, clock)
			n, err := slack.New(slack.Config{APIURL: srv.URL + "/services/T0/B0/secret", Channel: "#app-alerts", Username: "kubeward"},
				notify.Options{Clock: clock, ExternalURL: "https://kubeward.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := notify.WithGroup(context.Background(), notify.Group{Key: "g1", Labels: map[string]string{"namespace": "payments"}, Channel: tt.channel})
			retry, err := n.Notify(ctx, "slack", "g1", alerttest.SampleAlerts())
			if err != nil || retry {
				t.Fatalf("Notify = %v, %v", retry, err)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if reqs[0].Path != "/services/T0/B0/secret" || reqs[0].Header.Get("Content-Type") != "application/json" {
				t.Fatalf("request %s %q", reqs[0].Path, reqs[0].Header.Get("Content-Type"))
			}
			alerttest.GoldenJSON(t, filepath.Join("testdata", tt.golden), reqs[0].Body)
		})
	}
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		name       string
		resp       alerttest.Response
		wantRetry  bool
		retryAfter time.Duration
	}{
		{"rate limited", alerttest.Response{Status: 429, Header: map[string]string{"Retry-After": "7"}, Body: "rate_limited"}, true, 7 * time.Second},
		{"server error", alerttest.Response{Status: 502, Body: "bad gateway"}, true, 0},
		{"invalid payload", alerttest.Response{Status: 400, Body: "invalid_payload"}, false, 0},
		{"channel not found", alerttest.Response{Status: 404, Body: "channel_not_found"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := alerttest.NewClock(alerttest.Base)
			srv := alerttest.NewRecorder(t, clock, tt.resp)
			n, err := slack.New(slack.Config{APIURL: srv.URL + "/services/x"}, notify.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			retry, err := n.Notify(context.Background(), "r", "g", alerttest.SampleAlerts()[:1])
			if err == nil {
				t.Fatal("Notify succeeded on an error response")
			}
			if retry != tt.wantRetry {
				t.Fatalf("retry = %v, want %v (err %v)", retry, tt.wantRetry, err)
			}
			var ra *notify.RetryAfterError
			if got := errors.As(err, &ra); got != (tt.retryAfter > 0) || (got && ra.After != tt.retryAfter) {
				t.Fatalf("Retry-After in %v, want %v", err, tt.retryAfter)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  slack.Config
		want string
	}{
		{slack.Config{APIURL: "https://hooks.slack.com/services/x"}, ""},
		{slack.Config{}, "api_url: api_url or api_url_file is required"},
		{slack.Config{APIURL: "https://x/y", APIURLFile: "/f"}, "api_url: set either api_url or api_url_file, not both"},
		{slack.Config{APIURL: "https://x/y", Channel: "alerts"}, `channel: channel "alerts" must start with # (channel) or @ (user)`},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Validate(%+v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}
