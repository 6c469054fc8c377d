package ipban_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/ipban"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

func TestValidate(t *testing.T) {
	ex := ipban.New(nil)
	tests := []struct {
		name   string
		target respond.Target
		params map[string]string
		ok     bool
	}{
		{"ip", respond.Target{Kind: "Ip", Name: "192.0.2.1"}, nil, true},
		{"range captcha", respond.Target{Kind: "Range", Name: "2001:db8::/32"}, map[string]string{"type": "captcha"}, true},
		{"bad ip", respond.Target{Kind: "Ip", Name: "300.1.1.1"}, nil, false},
		{"range as ip", respond.Target{Kind: "Ip", Name: "10.0.0.0/8"}, nil, false},
		{"bad type", respond.Target{Kind: "Ip", Name: "192.0.2.1"}, map[string]string{"type": "throttle"}, false},
		{"unknown param", respond.Target{Kind: "Ip", Name: "192.0.2.1"}, map[string]string{"until": "x"}, false},
		{"pod", respond.Target{Kind: "Pod", Name: "x"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ex.Validate(respond.Request{Kind: ipban.Kind, Target: tt.target, Params: tt.params, TTL: time.Hour, Reason: "r"})
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, respond.ErrInvalid) {
				t.Fatalf("%v does not wrap ErrInvalid", err)
			}
		})
	}
}

// TestBanReachesBouncer applies a ban as an action and follows it through
// kubeward's CrowdSec Local API as a stream bouncer sees it.
func TestBanReachesBouncer(t *testing.T) {
	ctx := context.Background()
	clock := respondtest.NewClock(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	decisions := crowdsec.NewMemoryStore(clock.Now)
	bouncers := crowdsec.NewMemoryBouncers()
	key, err := crowdsec.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := bouncers.Add(ctx, "nginx", key); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(crowdsec.NewHandler(decisions, bouncers, crowdsec.Options{Now: clock.Now}))
	defer srv.Close()
	poll := func(startup bool) (added, deleted []string) {
		t.Helper()
		url := srv.URL + "/v1/decisions/stream"
		if startup {
			url += "?startup=true"
		}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Api-Key", key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			New, Deleted []struct{ Value, Type, Duration, Scenario string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		for _, d := range body.New {
			added = append(added, d.Type+" "+d.Value+" "+d.Duration+" "+d.Scenario)
		}
		for _, d := range body.Deleted {
			deleted = append(deleted, d.Value)
		}
		return added, deleted
	}

	mgr := respond.NewManager(respond.NewMemoryStore(), map[respond.Kind]respond.Executor{ipban.Kind: ipban.New(decisions)}, respond.Options{Now: clock.Now})
	if a, d := poll(true); len(a)+len(d) != 0 {
		t.Fatalf("startup: %v %v", a, d)
	}
	dry := respond.Request{Kind: ipban.Kind, Target: respond.Target{Kind: ipban.TargetIP, Name: "203.0.113.9"}, TTL: 2 * time.Hour, DryRun: true, Actor: "alice", Reason: "credential stuffing"}
	if _, err := mgr.Apply(ctx, dry); err != nil {
		t.Fatal(err)
	}
	if a, _ := poll(false); len(a) != 0 {
		t.Fatalf("dry run reached the bouncer: %v", a)
	}
	req := dry
	req.DryRun = false
	act, err := mgr.Apply(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if a, _ := poll(false); len(a) != 1 || a[0] != "ban 203.0.113.9 1h59m59s credential stuffing" {
		t.Fatalf("ban not in the next poll: %v", a)
	}
	if _, err := mgr.Revert(ctx, act.ID, "bob", "false positive"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if a, d := poll(false); len(a) != 0 || len(d) != 1 || d[0] != "203.0.113.9" {
		t.Fatalf("revert not reported as deleted: new %v, deleted %v", a, d)
	}
}
