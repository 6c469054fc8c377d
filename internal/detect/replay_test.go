package detect_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
	"github.com/kubeward/kubeward/internal/shareddata"
)

func compact(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jsonCompact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestReplayShapes replays the same events written in every supported
// layout, with sources recognised by shape, mixing audit and Tetragon
// events.
func TestReplayShapes(t *testing.T) {
	e := newEngine(t, upstreamRules(t), tetragon.DefaultRules())
	priv := compact(t, "testdata/audit/privileged_pod_create.json")
	nsenter := compact(t, shareddata.Path(t, "tetragon/03_chapter/03_security_observability_events/01_reaching_the_host_namespace/privileged-pod-nsenter.json"))
	pretty, err := os.ReadFile("testdata/audit/privileged_pod_create.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		input    string
		events   int
		rejected int
	}{
		{"json lines", priv + "\n" + nsenter + "\n", 2, 0},
		{"json array", "[\n" + priv + ",\n" + nsenter + "\n]\n", 2, 0},
		{"pretty concatenated", string(pretty) + "\n" + string(pretty), 2, 0},
		{"event list", `{"kind":"EventList","items":[` + priv + `,` + priv + `]}`, 2, 0},
		{"unknown documents are skipped", priv + "\n{\"x\":1}\n42\n" + nsenter, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dets, st, err := detect.Replay(context.Background(), e, strings.NewReader(tt.input), detect.AutoSource)
			if err != nil {
				t.Fatal(err)
			}
			if st.Events != tt.events || len(st.Rejected) != tt.rejected {
				t.Fatalf("stats %+v, want %d events and %d rejected", st, tt.events, tt.rejected)
			}
			byRule := map[string]int{}
			for _, d := range dets {
				byRule[d.Rule]++
			}
			if byRule["Create Privileged Pod"] == 0 {
				t.Errorf("no privileged pod detection: %v", byRule)
			}
			if strings.Contains(tt.input, "nsenter") && byRule["Tetragon Nsenter Into Host Namespaces"] != 1 {
				t.Errorf("no nsenter detection: %v", byRule)
			}
		})
	}
	if _, _, err := detect.Replay(context.Background(), e, strings.NewReader(priv+"\n{broken"), detect.AutoSource); err == nil {
		t.Error("a broken stream was accepted")
	}
	// A forced source rejects events of another shape.
	_, st, err := detect.Replay(context.Background(), e, strings.NewReader(nsenter), "k8s_audit")
	if err != nil || len(st.Rejected) != 1 {
		t.Errorf("forced source: %+v %v", st, err)
	}
}

func TestWriteTable(t *testing.T) {
	e := newEngine(t, upstreamRules(t))
	dets := evaluateFile(t, e, "testdata/audit/secret_get_unexpected_user.json", detect.AutoSource)
	var buf bytes.Buffer
	if err := detect.WriteTable(&buf, dets); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(buf.String(), "Error     k8s_audit  K8s Secret Get Successfully") {
		t.Errorf("table:\n%s", buf.String())
	}
}

type captured struct{ msgs []bus.Message }

func (c *captured) Publish(_ context.Context, msgs ...bus.Message) error {
	c.msgs = append(c.msgs, msgs...)
	return nil
}

func TestPipelinePublishes(t *testing.T) {
	pub := &captured{}
	p := &detect.Pipeline{Engine: newEngine(t, upstreamRules(t)), Publisher: pub}
	b, err := os.ReadFile("testdata/audit/clusterrolebinding_cluster_admin.json")
	if err != nil {
		t.Fatal(err)
	}
	var d event.Decoder
	events, errs := detect.Decode(&d, b, detect.AutoSource)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dets, err := p.Process(context.Background(), events)
	if err != nil || len(dets) != 2 || len(pub.msgs) != 2 {
		t.Fatalf("%d detections, %d messages, %v", len(dets), len(pub.msgs), err)
	}
	for i, m := range pub.msgs {
		want, _ := dets[i].MarshalJSON()
		if m.Topic != "detections" || m.Key != dets[i].Rule || !bytes.Equal(m.Value, want) || m.Headers[detect.HeaderPriority] != dets[i].Priority.String() {
			t.Errorf("message %d: %+v", i, m)
		}
	}
}

func TestMinPriority(t *testing.T) {
	p := rules.Error
	e, err := detect.New(detect.Config{Rules: []rules.File{upstreamRules(t)}, MinPriority: &p})
	if err != nil {
		t.Fatal(err)
	}
	// The upstream ruleset has two rules at Error and none above.
	if n := e.RuleCount("k8s_audit"); n != 2 {
		t.Fatalf("%d rules at Error or above, want 2", n)
	}
	for _, d := range evaluateFile(t, e, "testdata/audit/secret_get_unexpected_user.json", detect.AutoSource) {
		if !d.Priority.AtLeast(rules.Error) {
			t.Errorf("detection below the minimum priority: %s %s", d.Priority, d.Rule)
		}
	}
}
