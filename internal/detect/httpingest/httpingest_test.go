package httpingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/httpingest"
	"github.com/kubeward/kubeward/internal/detect/internal/metricstest"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/shareddata"
)

type recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
	err  error
}

func (r *recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func pipeline(tb testing.TB, pub bus.Publisher) *detect.Pipeline {
	tb.Helper()
	e, err := detect.New(detect.Config{Rules: []rules.File{{Name: "k8s_audit_rules.yaml", Data: shareddata.Read(tb, "falco/k8s_audit_rules.yaml")}}})
	if err != nil {
		tb.Fatal(err)
	}
	return &detect.Pipeline{Engine: e, Publisher: pub}
}

func auditEvent(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile("../testdata/audit/" + name + ".json")
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

func eventList(items ...string) string {
	return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
}

func TestAuditWebhook(t *testing.T) {
	priv := auditEvent(t, "privileged_pod_create")
	benign := auditEvent(t, "benign_admin_list_pods")
	big := `{"auditID":"x","stage":"ResponseComplete","requestObject":{"data":"` + strings.Repeat("a", k8saudit.MaxEventSize) + `"}}`
	oversized := eventList(strings.Repeat(benign+",", k8saudit.MaxBatchSize/len(benign)+1) + benign)
	tests := []struct {
		name        string
		method      string
		ctype       string
		body        string
		pubErr      error
		code        int
		detections  int
		published   int
		errContains string
		// reason is the kubeward_detect_malformed_events_total label that
		// must rise by one ("" when no counter may move).
		reason string
		// chunked sends the body without a Content-Length.
		chunked bool
	}{
		{"event list", http.MethodPost, "application/json", eventList(priv, benign), nil, 200, 2, 2, "", "", false},
		{"single event", http.MethodPost, "application/json; charset=utf-8", priv, nil, 200, 2, 2, "", "", false},
		{"benign", http.MethodPost, "application/json", eventList(benign), nil, 200, 0, 0, "", "", false},
		{"oversized event skipped in batch", http.MethodPost, "application/json", eventList(priv, big), nil, 200, 2, 2, "", detect.ReasonTooLarge, false},
		{"oversized single event", http.MethodPost, "application/json", big, nil, 413, 0, 0, "larger than", detect.ReasonTooLarge, false},
		{"oversized batch", http.MethodPost, "application/json", oversized, nil, 413, 0, 0, "--audit-webhook-batch-max-size", detect.ReasonBatchTooLarge, false},
		{"oversized chunked batch", http.MethodPost, "application/json", oversized, nil, 413, 0, 0, "--audit-webhook-batch-max-size", detect.ReasonBatchTooLarge, true},
		{"invalid json", http.MethodPost, "application/json", `{"kind":`, nil, 400, 0, 0, "invalid audit events", detect.ReasonInvalidJSON, false},
		{"not audit", http.MethodPost, "application/json", `{"hello":"world"}`, nil, 400, 0, 0, "auditID", detect.ReasonNotAnEvent, false},
		{"wrong method", http.MethodGet, "", "", nil, 405, 0, 0, "POST", "", false},
		{"wrong content type", http.MethodPost, "text/plain", priv, nil, 415, 0, 0, "application/json", detect.ReasonWrongMediaType, false},
		{"bus down", http.MethodPost, "application/json", priv, errors.New("broker unavailable"), 503, 0, 0, "retry later", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			malformedBefore, reasonBefore := malformed(t, ""), malformed(t, tt.reason)
			publishErrorsBefore := metricstest.Counter(t, "kubeward_detect_publish_errors_total", nil)
			pub := &recorder{err: tt.pubErr}
			h := httpingest.NewAuditWebhook(pipeline(t, pub), slog.New(slog.DiscardHandler))
			req := httptest.NewRequest(tt.method, "/k8s-audit", strings.NewReader(tt.body))
			if tt.chunked {
				req.ContentLength = -1
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			if tt.errContains != "" && !strings.Contains(rec.Body.String(), tt.errContains) {
				t.Errorf("body %q lacks %q", rec.Body, tt.errContains)
			}
			if rec.Code == 200 {
				var sum httpingest.Summary
				if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil || sum.Detections != tt.detections {
					t.Errorf("summary %s (%v), want %d detections", rec.Body, err, tt.detections)
				}
			}
			switch rose, reasonRose := malformed(t, "")-malformedBefore, malformed(t, tt.reason)-reasonBefore; {
			case tt.reason == "" && rose != 0:
				t.Errorf("kubeward_detect_malformed_events_total rose by %v for acceptable input", rose)
			case tt.reason != "" && (reasonRose != 1 || rose != 1):
				t.Errorf("kubeward_detect_malformed_events_total{reason=%q} rose by %v (all reasons: %v), want 1", tt.reason, reasonRose, rose)
			}
			if want, rose := tt.pubErr != nil, metricstest.Counter(t, "kubeward_detect_publish_errors_total", nil)-publishErrorsBefore; want != (rose == 1) {
				t.Errorf("kubeward_detect_publish_errors_total rose by %v, want a failed publish counted: %v", rose, want)
			}
			if len(pub.msgs) != tt.published {
				t.Fatalf("published %d messages, want %d", len(pub.msgs), tt.published)
			}
			for _, m := range pub.msgs {
				var alert map[string]any
				if m.Topic != detect.Topic || json.Unmarshal(m.Value, &alert) != nil || alert["rule"] != m.Key || m.Headers[detect.HeaderSource] != "k8s_audit" {
					t.Errorf("message %s key %q: %s", m.Topic, m.Key, m.Value)
				}
			}
		})
	}
}

func TestFalcoReceiver(t *testing.T) {
	r := []rules.File{{Name: "route.yaml", Data: []byte(`
- rule: Falco Critical In Production
  desc: re-raise critical Falco alerts from production namespaces
  condition: falco.priority in (Critical, Emergency) and falco.output_fields[k8s.ns.name] startswith prod
  output: "%falco.rule on %falco.hostname in %falco.output_fields[k8s.ns.name]"
  priority: CRITICAL
  source: falco_alert
  tags: [falco]
`)}}
	e, err := detect.New(detect.Config{Rules: r})
	if err != nil {
		t.Fatal(err)
	}
	pub := &recorder{}
	srv := httptest.NewServer(httpingest.NewFalcoReceiver(&detect.Pipeline{Engine: e, Publisher: pub}, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	alert := `{"hostname":"node-1","output":"10:00:00.000000000: Critical Terminal shell in container","output_fields":{"k8s.ns.name":"prod-payments","proc.name":"bash","evt.time":1700000000000000000},"priority":"Critical","rule":"Terminal shell in container","source":"syscall","tags":["container","shell"],"time":"2026-11-23T10:00:00.000000000Z"}`
	for _, tc := range []struct {
		body string
		code int
		want int
	}{
		{alert, 200, 1},
		{strings.Replace(alert, "prod-payments", "dev", 1), 200, 0},
		{`{"rule":1}`, 400, 0},
		{strings.Repeat(" ", httpingest.MaxAlertSize+1), 413, 0},
	} {
		pub.msgs = nil
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || len(pub.msgs) != tc.want {
			t.Fatalf("status %d (%s), %d messages; want %d, %d", resp.StatusCode, b, len(pub.msgs), tc.code, tc.want)
		}
		if tc.want == 1 {
			var got map[string]any
			_ = json.Unmarshal(pub.msgs[0].Value, &got)
			if got["output"] == nil || !strings.HasSuffix(got["output"].(string), "Critical Terminal shell in container on node-1 in prod-payments") {
				t.Errorf("alert %s", pub.msgs[0].Value)
			}
		}
	}
}

// BenchmarkAuditWebhook measures the webhook handler in-process with a
// 100-event EventList of RequestResponse-level events.
func BenchmarkAuditWebhook(b *testing.B) {
	names := []string{"privileged_pod_create", "benign_admin_list_pods", "benign_controller_pod_create", "configmap_credentials", "benign_scheduler_lease_update"}
	var items []string
	for i := 0; i < 100; i++ {
		items = append(items, auditEvent(b, names[i%len(names)]))
	}
	body := []byte(eventList(items...))
	h := httpingest.NewAuditWebhook(pipeline(b, &discard{}), slog.New(slog.DiscardHandler))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/k8s-audit", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body.String())
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N*100)/cpu.Seconds(), "events/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discard struct{}

func (discard) Publish(context.Context, ...bus.Message) error { return nil }

// malformed reads kubeward_detect_malformed_events_total for reason, or
// summed over all reasons when reason is "".
func malformed(t *testing.T, reason string) float64 {
	t.Helper()
	var labels map[string]string
	if reason != "" {
		labels = map[string]string{"reason": reason}
	}
	return metricstest.Counter(t, "kubeward_detect_malformed_events_total", labels)
}
