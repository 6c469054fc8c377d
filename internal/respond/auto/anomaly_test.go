package auto_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/flow/sensor/sensortest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/auto"
	"github.com/kubeward/kubeward/internal/respond/ipban"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

// anomalyRules bans the source of port-scan flows; %s is the enforce flag.
const anomalyRules = `
rules:
  - name: ban-portscan
    match: {source: anomaly, minSeverity: high, labels: ['alertname="FlowAnomaly"', 'class="Portscan"']}
    action:
      kind: ip-ban
      target: {kind: Ip, name: "${source_ip}"}
      params: {scenario: "kubeward/flow-${class}"}
    ttl: 4h
    enforce: %t
`

// nmapAnomalies runs the real nmap capture of ../shared/data through the
// real flow extractor and sensor, and returns the anomaly messages the
// sensor publishes on sensor.Topic.
func nmapAnomalies(t *testing.T) []bus.Message {
	t.Helper()
	msgs := sensortest.NmapAnomalies(t)
	for _, m := range msgs {
		if m.Topic != sensor.Topic {
			t.Fatalf("the sensor published on %q, want %q", m.Topic, sensor.Topic)
		}
	}
	return msgs
}

// scanner returns the source address and time of an anomaly message, read
// from the message itself.
func scanner(t *testing.T, msg bus.Message) (string, time.Time) {
	t.Helper()
	var an sensor.Anomaly
	if err := json.Unmarshal(msg.Value, &an); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		SrcIP string `json:"Src IP"`
	}
	if err := json.Unmarshal(an.Flow, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.SrcIP, an.Time
}

// lapiDecisions asks the CrowdSec Local API, as a bouncer does in live
// mode, for the decisions on ip; nil when the API answers the literal null.
func lapiDecisions(t *testing.T, url, key, ip string) []map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/v1/decisions?ip="+ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/decisions: %d %s %v", resp.StatusCode, body, err)
	}
	var out []map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decisions body %s: %v", body, err)
	}
	return out
}

// TestAnomalyBanOnLAPI is the end-to-end path of an automatic IP ban: the
// real sensor's anomalies from a real nmap capture are published on the
// in-process bus, the responder's consumer turns them into alerts, the
// rule matches the port-scan class and bans the scanner's address, and a
// bouncer sees the ban on the CrowdSec Local API. Dry run (the default)
// records the action and bans nothing.
func TestAnomalyBanOnLAPI(t *testing.T) {
	anomalies := nmapAnomalies(t)
	ip, at := scanner(t, anomalies[0])
	for _, m := range anomalies {
		if got, _ := scanner(t, m); got != ip {
			t.Fatalf("the nmap capture has anomalies from %s and %s; the test expects one scanner", ip, got)
		}
	}
	tests := []struct {
		name      string
		enforce   bool
		wantState respond.State
		wantBan   bool
	}{
		{"dry run first", false, respond.StateDryRun, false},
		{"enforced", true, respond.StateApplied, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			clock := respondtest.NewClock(at.Add(time.Second))
			decisions := crowdsec.NewMemoryStore(clock.Now)
			bouncers := crowdsec.NewMemoryBouncers()
			const key = "test-bouncer-key-0123456789abcdef"
			if err := bouncers.Add(ctx, "nginx-bouncer", key); err != nil {
				t.Fatal(err)
			}
			lapi := httptest.NewServer(crowdsec.NewHandler(decisions, bouncers, crowdsec.Options{Now: clock.Now}))
			defer lapi.Close()

			store := respond.NewMemoryStore()
			mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{ipban.Kind: ipban.New(decisions)}, respond.Options{Now: clock.Now})
			ruleSet, err := auto.ParseRules(fmt.Appendf(nil, anomalyRules, tt.enforce))
			if err != nil {
				t.Fatal(err)
			}
			r, err := auto.New(mgr, ruleSet, clock.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := inproc.New(inproc.Options{})
			opts := auto.ConsumeOptions()
			if err := b.DeclareGroup(opts.Group, opts.Topics...); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- b.Consume(ctx, opts, auto.NewHandler(r, source.Converter{}, nil)) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Consume: %v", err)
				}
				b.Close()
			}()

			if got := lapiDecisions(t, lapi.URL, key, ip); got != nil {
				t.Fatalf("decisions before any anomaly: %v", got)
			}
			if err := b.Publish(ctx, anomalies...); err != nil {
				t.Fatal(err)
			}
			if err := b.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}

			list, err := store.List(ctx, respond.Filter{Kind: ipban.Kind})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 {
				t.Fatalf("%d anomalies from one scanner recorded %d ip-ban actions, want 1: %+v", len(anomalies), len(list), list)
			}
			if a := list[0]; a.State != tt.wantState || a.Target.Name != ip || a.Actor != "kubeward/auto/ban-portscan" || a.TTL != 4*time.Hour {
				t.Errorf("action = %+v, want state %s on %s", a, tt.wantState, ip)
			}
			got := lapiDecisions(t, lapi.URL, key, ip)
			if !tt.wantBan {
				if got != nil {
					t.Fatalf("a dry run put decisions on the Local API: %v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("Local API decisions on %s = %v, want one ban", ip, got)
			}
			d := got[0]
			if d["value"] != ip || d["type"] != "ban" || d["scope"] != "Ip" || d["scenario"] != "kubeward/flow-Portscan" {
				t.Errorf("decision = %v", d)
			}
			if dur, err := time.ParseDuration(fmt.Sprint(d["duration"])); err != nil || dur != 4*time.Hour {
				t.Errorf("duration %v (%v), want the rule's 4h TTL", d["duration"], err)
			}
		})
	}
}
