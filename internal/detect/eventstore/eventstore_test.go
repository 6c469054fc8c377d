package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/detect/eventstore/eventtest"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMemoryContract(t *testing.T) {
	eventtest.RunStoreContract(t, func(*testing.T) eventstore.Store { return eventstore.NewMemory() })
}

// TestDecodeRealDetections decodes what the real engine publishes and
// pins the result in a golden file.
func TestDecodeRealDetections(t *testing.T) {
	msgs := eventtest.RealMessages(t)
	events := make([]eventstore.Event, 0, len(msgs))
	for _, m := range msgs {
		e, err := eventstore.Decode(m.Value)
		if err != nil {
			t.Fatalf("decode %s: %v", m.Value, err)
		}
		if e.Rule != m.Key || e.Priority.String() != m.Headers[detect.HeaderPriority] || e.Source != m.Headers[detect.HeaderSource] {
			t.Errorf("event %s: rule %q priority %s source %q disagree with the message key and headers %v", e.ID, e.Rule, e.Priority, e.Source, m.Headers)
		}
		if string(e.Raw) != string(m.Value) {
			t.Errorf("event %s: raw %s, want the message value %s", e.ID, e.Raw, m.Value)
		}
		events = append(events, e)
	}
	got, err := json.MarshalIndent(events, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "real_events.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("decoded events differ from %s (run with -update after an intended change):\n%s", golden, got)
	}
}

func TestDecode(t *testing.T) {
	const tm = `"time":"2026-03-01T12:00:00.5Z"`
	for _, tc := range []struct {
		name, in      string
		wantErr       string
		wantNamespace string
		wantPod       string
		wantPriority  rules.Priority
	}{
		{name: "minimal", in: `{"rule":"R","priority":"Warning",` + tm + `}`, wantPriority: rules.Warning},
		{name: "lower-case priority", in: `{"rule":"R","priority":"critical",` + tm + `}`, wantPriority: rules.Critical},
		{name: "pod fields", in: `{"rule":"R","priority":"Notice",` + tm + `,"output_fields":{"k8s.ns.name":"prod","k8s.pod.name":"web-1"}}`,
			wantNamespace: "prod", wantPod: "web-1", wantPriority: rules.Notice},
		{name: "audit target namespace", in: `{"rule":"R","priority":"Notice",` + tm + `,"output_fields":{"ka.target.namespace":"kube-system","k8s.pod.name":"<NA>"}}`,
			wantNamespace: "kube-system", wantPriority: rules.Notice},
		{name: "audit pod target", in: `{"rule":"R","priority":"Notice",` + tm + `,"output_fields":{"ka.target.namespace":"default","ka.target.resource":"pods","ka.target.name":"web-0"}}`,
			wantNamespace: "default", wantPod: "web-0", wantPriority: rules.Notice},
		{name: "audit non-pod target", in: `{"rule":"R","priority":"Notice",` + tm + `,"output_fields":{"ka.target.namespace":"default","ka.target.resource":"secrets","ka.target.name":"db"}}`,
			wantNamespace: "default", wantPriority: rules.Notice},
		{name: "not available skipped", in: `{"rule":"R","priority":"Notice",` + tm + `,"output_fields":{"k8s.ns.name":"<NA>","tetragon.pod.namespace":"t"}}`,
			wantNamespace: "t", wantPriority: rules.Notice},
		{name: "not JSON", in: `rule: R`, wantErr: "not JSON"},
		{name: "invalid UTF-8", in: "{\"rule\":\"R\xff\",\"priority\":\"Warning\"," + tm + "}", wantErr: "UTF-8"},
		{name: "array", in: `[1]`, wantErr: "not a Falco json_output alert"},
		{name: "no rule", in: `{"priority":"Warning",` + tm + `}`, wantErr: "no rule"},
		{name: "no time", in: `{"rule":"R","priority":"Warning"}`, wantErr: "no time"},
		{name: "bad time", in: `{"rule":"R","priority":"Warning","time":"yesterday"}`, wantErr: "not a Falco json_output alert"},
		{name: "bad priority", in: `{"rule":"R","priority":"Severe",` + tm + `}`, wantErr: "priority"},
		{name: "output_fields not object", in: `{"rule":"R","priority":"Warning",` + tm + `,"output_fields":[1]}`, wantErr: "output_fields is not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := eventstore.Decode([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode: %v; want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Namespace != tc.wantNamespace || e.Pod != tc.wantPod || e.Priority != tc.wantPriority {
				t.Errorf("namespace %q pod %q priority %s; want %q %q %s", e.Namespace, e.Pod, e.Priority, tc.wantNamespace, tc.wantPod, tc.wantPriority)
			}
			if !e.Time.Equal(time.Date(2026, 3, 1, 12, 0, 0, 5e8, time.UTC)) || e.Time.Location() != time.UTC {
				t.Errorf("time %s", e.Time)
			}
			if len(e.ID) != 32 || e.Tags == nil || len(e.OutputFields) == 0 {
				t.Errorf("id %q tags %v output_fields %s", e.ID, e.Tags, e.OutputFields)
			}
		})
	}
}

// TestIDIgnoresFormatting: the same alert, indented or not, is one event;
// another alert is another.
func TestIDIgnoresFormatting(t *testing.T) {
	a, err := eventstore.Decode([]byte(`{"rule":"R","priority":"Warning","time":"2026-03-01T12:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := eventstore.Decode([]byte("{\n  \"rule\": \"R\",\n  \"priority\": \"Warning\",\n  \"time\": \"2026-03-01T12:00:00Z\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := eventstore.Decode([]byte(`{"rule":"R","priority":"Warning","time":"2026-03-01T12:00:01Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.ID == c.ID {
		t.Errorf("ids %s %s %s: want the first two equal and the third different", a.ID, b.ID, c.ID)
	}
}

func TestHandlerStoresRealDetections(t *testing.T) {
	msgs := eventtest.RealMessages(t)
	bad := bus.Message{Topic: detect.Topic, Key: "x", Value: []byte(`{"rule":"x","priority":"loud","time":"2026-03-01T12:00:00Z"}`)}
	batch := append([]bus.Message{msgs[0], bad}, msgs[1:]...)
	st := eventstore.NewMemory()
	h := eventstore.NewHandler(st, nil)
	malformed := eventstore.MessagesTotal.WithLabelValues("malformed")
	stored := eventstore.MessagesTotal.WithLabelValues("stored")
	duplicate := eventstore.MessagesTotal.WithLabelValues("duplicate")
	m0, s0, d0 := testutil.ToFloat64(malformed), testutil.ToFloat64(stored), testutil.ToFloat64(duplicate)

	err := h(context.Background(), batch)
	var rej *bus.RejectError
	if !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].Index != 1 {
		t.Fatalf("handler: %v; want message 1 rejected", err)
	}
	unique := map[string]bool{}
	for _, m := range msgs {
		e, err := eventstore.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		unique[e.ID] = true
	}
	p, err := st.List(context.Background(), eventstore.Filter{Limit: eventstore.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != len(unique) {
		t.Errorf("stored %d events, want %d", p.Total, len(unique))
	}
	if got := testutil.ToFloat64(malformed) - m0; got != 1 {
		t.Errorf("malformed metric grew by %v, want 1", got)
	}
	if got := testutil.ToFloat64(stored) - s0; got != float64(len(unique)) {
		t.Errorf("stored metric grew by %v, want %d", got, len(unique))
	}

	// A redelivery stores nothing new.
	if err := h(context.Background(), msgs); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if p2, _ := st.List(context.Background(), eventstore.Filter{}); p2.Total != p.Total {
		t.Errorf("after redelivery %d events, want %d", p2.Total, p.Total)
	}
	if got := testutil.ToFloat64(duplicate) - d0; got < float64(len(unique)) {
		t.Errorf("duplicate metric grew by %v, want at least %d", got, len(unique))
	}
}

type failingStore struct{ eventstore.Store }

func (failingStore) Add(context.Context, []eventstore.Event) (int, error) {
	return 0, errors.New("disk full")
}

// TestHandlerStoreErrorIsTransient: a storage failure is not a rejection,
// so the bus redelivers the batch instead of dead-lettering good messages.
func TestHandlerStoreErrorIsTransient(t *testing.T) {
	msgs := eventtest.RealMessages(t)
	err := eventstore.NewHandler(failingStore{}, nil)(context.Background(), msgs)
	var rej *bus.RejectError
	if err == nil || errors.As(err, &rej) || bus.IsPermanent(err) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("handler: %v; want a transient error wrapping the store's", err)
	}
}

func TestRetentionPrunesOldEvents(t *testing.T) {
	st := eventstore.NewMemory()
	samples := eventtest.Samples(t, 10) // Base … Base+9m
	if _, err := st.Add(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
	r := eventstore.Retention{Store: st, Keep: time.Hour, Now: func() time.Time { return eventtest.Base.Add(time.Hour + 4*time.Minute + time.Second) }}
	n, err := r.PruneOnce(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("PruneOnce: %d, %v; want 5", n, err)
	}
	if _, err := (eventstore.Retention{Store: st, Keep: -time.Hour}).PruneOnce(context.Background()); err == nil {
		t.Error("negative retention accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a cancelled context: %v", err)
	}
}

func TestFilterMatch(t *testing.T) {
	e, err := eventstore.Decode([]byte(`{"rule":"Exec","priority":"Warning","source":"k8s_audit","output":"12:00 Warning Exec INTO pod","time":"2026-03-01T12:00:00Z","output_fields":{"k8s.ns.name":"prod","k8s.pod.name":"web"}}`))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	p := func(p rules.Priority) *rules.Priority { return &p }
	for _, tc := range []struct {
		f    eventstore.Filter
		want bool
	}{
		{eventstore.Filter{}, true},
		{eventstore.Filter{Rule: "Exec"}, true},
		{eventstore.Filter{Rule: "exec"}, false},
		{eventstore.Filter{MinPriority: p(rules.Warning)}, true},
		{eventstore.Filter{MinPriority: p(rules.Notice)}, true},
		{eventstore.Filter{MinPriority: p(rules.Error)}, false},
		{eventstore.Filter{Source: "syscall"}, false},
		{eventstore.Filter{Since: at("2026-03-01T12:00:00Z")}, true},
		{eventstore.Filter{Since: at("2026-03-01T12:00:01Z")}, false},
		{eventstore.Filter{Until: at("2026-03-01T12:00:00Z")}, false},
		{eventstore.Filter{Until: at("2026-03-01T12:00:01Z")}, true},
		{eventstore.Filter{Text: "exec into"}, true},
		{eventstore.Filter{Text: "exec_into"}, false},
		{eventstore.Filter{Namespace: "prod", Pod: "web"}, true},
		{eventstore.Filter{Namespace: "prod", Pod: "db"}, false},
	} {
		if got := tc.f.Match(e); got != tc.want {
			t.Errorf("%+v.Match = %v, want %v", tc.f, got, tc.want)
		}
	}
}
