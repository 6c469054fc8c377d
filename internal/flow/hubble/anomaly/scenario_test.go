package anomaly

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/hubble/hubbletest"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// recorder is a Sink keeping what it is given.
type recorder struct {
	windows   []features.Window
	anomalies []Anomaly
}

func (r *recorder) Window(w *features.Window)       { r.windows = append(r.windows, *w) }
func (r *recorder) Anomaly(a *Anomaly, _ time.Time) { r.anomalies = append(r.anomalies, *a) }

// start is aligned to the default window.
var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// process writes a scenario as Hubble JSON lines, reads them back through
// the decoder and returns what the processor found.
func process(t *testing.T, dc Config, write func(g *hubbletest.Writer)) *recorder {
	t.Helper()
	var buf bytes.Buffer
	g := hubbletest.NewWriter()
	write(g)
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	p := NewProcessor(features.Config{}, dc, rec, nil)
	if err := p.Run(t.Context(), hubble.NewReader(&buf), time.Hour); err != nil {
		t.Fatal(err)
	}
	return rec
}

type found struct{ subject, class string }

func summary(as []Anomaly) []found {
	var out []found
	for _, a := range as {
		out = append(out, found{a.Window.Subject.String(), a.Class})
	}
	return out
}

// TestScenarios runs three minutes of benign traffic from six pods and,
// in the thirteenth window, one attack by the first pod. Benign traffic
// must stay quiet and each attack must raise exactly its own anomaly,
// once, for the attacker — no baseline deviation besides, nothing for the
// other pods — and the alert pipeline must turn it into an alert naming
// the attacker.
func TestScenarios(t *testing.T) {
	c := hubbletest.NewCluster(6)
	attacker := c.Clients[0]
	attackAt := start.Add(120 * time.Second)
	tests := []struct {
		name   string
		attack func(g *hubbletest.Writer, rng *rand.Rand)
		class  string
		dst    string // the alert's destination_ip label
		port   string // the alert's destination_port label ("" when none)
	}{
		{name: "benign"},
		{
			name: "port scan",
			attack: func(g *hubbletest.Writer, _ *rand.Rand) {
				g.PortScan(attacker, c.Services[1], attackAt, 10*time.Second, 300)
			},
			class: ClassPortScan, dst: c.Services[1].IP.String(),
		},
		{
			name: "SYN flood",
			attack: func(g *hubbletest.Writer, _ *rand.Rand) {
				g.SYNFlood(attacker, c.Services[0], 8080, attackAt, 10*time.Second, 300)
			},
			class: ClassSYNFlood, dst: c.Services[0].IP.String(), port: "8080",
		},
		{
			name: "DNS NXDOMAIN burst",
			attack: func(g *hubbletest.Writer, rng *rand.Rand) {
				g.NXDomainBurst(rng, attacker, c.DNS, attackAt, 10*time.Second, 20)
			},
			class: ClassNXDomainBurst, dst: c.DNS.IP.String(), port: "53",
		},
		{
			name: "HTTP 5xx storm",
			attack: func(g *hubbletest.Writer, _ *rand.Rand) {
				g.HTTP5xxStorm(attacker, c.Services[2], 8443, attackAt, 10*time.Second, 20)
			},
			class: ClassHTTP5xxStorm, dst: c.Services[2].IP.String(), port: "8443",
		},
	}
	golden := map[string]Anomaly{}
	defer func() {
		// The golden file pins every attack's anomaly (reason, score,
		// features); it is compared when all of them ran and passed.
		if !t.Failed() && len(golden) == len(tests)-1 {
			checkGolden(t, "scenarios.golden.json", golden)
		}
	}()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			rec := process(t, Config{}, func(g *hubbletest.Writer) {
				g.Benign(rng, c, start, 180*time.Second)
				if tt.attack != nil {
					tt.attack(g, rng)
				}
			})
			if len(rec.windows) < 18*len(c.Clients) {
				t.Fatalf("only %d windows for %d pods over 18 windows", len(rec.windows), len(c.Clients))
			}
			var want []found
			if tt.attack != nil {
				want = []found{{attacker.Namespace + "/" + attacker.Pod, tt.class}}
			}
			if got := summary(rec.anomalies); !slices.Equal(got, want) {
				for _, a := range rec.anomalies {
					t.Logf("%s %s: %s", a.Window.Subject, a.Class, a.Reason)
				}
				t.Fatalf("anomalies %v, want %v", got, want)
			}
			if tt.attack == nil {
				return
			}
			a := rec.anomalies[0]
			golden[tt.name] = a
			if !a.Window.Start.Equal(attackAt) || a.Score < 1 {
				t.Errorf("anomaly in window %v with score %v", a.Window.Start, a.Score)
			}
			checkAlert(t, &a, attacker.IP.String(), tt.class, tt.dst, tt.port)
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// checkGolden compares v, as indented JSON, with testdata/name.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("anomalies differ from %s (run with -update after checking):\n%s", path, got)
	}
}

// checkAlert publishes a in the flow sensor's message shape and converts
// it with the alert pipeline's own converter.
func checkAlert(t *testing.T, a *Anomaly, srcIP, class, dstIP, dstPort string) {
	t.Helper()
	closed := time.Now()
	msg, err := a.Message(closed)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Labels[LabelNamespace] != a.Window.Namespace || msg.Labels[LabelPod] != a.Window.Pod || msg.Labels[LabelSourceIP] != srcIP || msg.Labels[LabelWorkload] == "" {
		t.Errorf("message labels %v", msg.Labels)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	al, err := source.Converter{}.Anomaly(bus.Message{Topic: sensor.Topic, Key: msg.FlowID, Value: body, Time: closed})
	if err != nil {
		t.Fatalf("the alert pipeline refused the anomaly: %v\n%s", err, body)
	}
	want := map[string]string{"alertname": "FlowAnomaly", source.LabelClass: class, source.LabelSourceIP: srcIP, source.LabelDestinationIP: dstIP,
		"namespace": a.Window.Namespace, "pod": a.Window.Pod, "workload": msg.Labels[LabelWorkload]}
	if dstPort != "" {
		want[source.LabelDestinationPort] = dstPort
	}
	for k, v := range want {
		if al.Labels[k] != v {
			t.Errorf("alert label %s = %q, want %q (labels %v)", k, al.Labels[k], v, al.Labels)
		}
	}
	if _, ok := al.Labels[source.LabelDestinationPort]; ok && dstPort == "" {
		t.Errorf("alert has destination_port %q, want none", al.Labels[source.LabelDestinationPort])
	}
	if al.Severity != "high" {
		t.Errorf("severity %q, want high for a guard rule", al.Severity)
	}
}

// TestBaselineDeviation: a pod whose connections start being denied by
// policy (no guard rule covers drops) deviates from its baseline — but
// only once the baseline has warmed up.
func TestBaselineDeviation(t *testing.T) {
	c := hubbletest.NewCluster(4)
	pod := c.Clients[1]
	tests := []struct {
		name    string
		spikeAt time.Duration
		want    []found
	}{
		{"after warm-up", 120 * time.Second, []found{{pod.Namespace + "/" + pod.Pod, ClassBaselineDeviation}}},
		{"during warm-up", 10 * time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			rec := process(t, Config{}, func(g *hubbletest.Writer) {
				g.Benign(rng, c, start, 180*time.Second)
				for i := range 60 {
					g.Connect(start.Add(tt.spikeAt+time.Duration(i)*150*time.Millisecond), pod, c.DNS, 2379, hubbletest.Denied)
				}
			})
			if got := summary(rec.anomalies); !slices.Equal(got, tt.want) {
				for _, a := range rec.anomalies {
					t.Logf("%s %s: %s", a.Window.Subject, a.Class, a.Reason)
				}
				t.Fatalf("anomalies %v, want %v", got, tt.want)
			}
			if len(tt.want) == 0 {
				return
			}
			a := rec.anomalies[0]
			if a.ZScores[features.DropRate.String()] < Defaults().ZThreshold {
				t.Errorf("z-scores %v: want drops_per_s above the threshold", a.ZScores)
			}
			msg, err := a.Message(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if msg.Verdict.Probability >= 0.9 {
				t.Errorf("a baseline deviation must be a medium alert, probability %v", msg.Verdict.Probability)
			}
		})
	}
}

// TestBaselineEviction checks the bound on baselines.
func TestBaselineEviction(t *testing.T) {
	d := New(Config{MaxBaselines: 3})
	for i := range 10 {
		w := features.Window{Subject: features.Subject{Namespace: "ns", Pod: string(rune('a' + i))}, Start: start, End: start.Add(10 * time.Second)}
		d.Observe(&w, nil)
	}
	if d.Baselines() != 3 {
		t.Errorf("%d baselines kept, want 3", d.Baselines())
	}
}
