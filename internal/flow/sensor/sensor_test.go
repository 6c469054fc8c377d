package sensor

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/flowtest"
	"github.com/kubeward/kubeward/internal/flow/model"
)

// everyOther flags every second flow, so the test knows exactly which
// flows must arrive on the bus.
type everyOther struct {
	n      atomic.Int64
	mu     sync.Mutex
	alerts map[string]bool
}

func (e *everyOther) Classify(r *flow.Record) model.Verdict {
	if e.n.Add(1)%2 == 0 {
		return model.Verdict{Class: "benign", Probability: 1, BenignProbability: 1}
	}
	e.mu.Lock()
	e.alerts[r.FlowID()] = true
	e.mu.Unlock()
	return model.Verdict{Class: "Portscan", Probability: 0.9, Alert: true}
}

func TestSensorPublishesEveryAnomaly(t *testing.T) {
	dir := flowtest.DataDir(t)
	pcaps, err := filepath.Glob(filepath.Join(dir, "pcaps", "esnet", "*nmap*"))
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no nmap captures under %s: %v", dir, err)
	}
	b := inproc.New(inproc.Options{})
	defer b.Close()
	if err := b.DeclareGroup("test", Topic); err != nil {
		t.Fatal(err)
	}
	cls := &everyOther{alerts: map[string]bool{}}
	s, err := New(cls, b, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()

	ex := flow.NewExtractor(flow.Config{}, s.Emit)
	for _, p := range pcaps {
		if _, err := capture.ReadFile(context.Background(), p, ex); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	ex.Flush()
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if len(cls.alerts) == 0 {
		t.Fatal("the captures produced no flows")
	}

	got := map[string]bool{}
	cctx, ccancel := context.WithCancel(context.Background())
	defer ccancel()
	var mu sync.Mutex
	go b.Consume(cctx, bus.ConsumeOptions{Group: "test", Topics: []string{Topic}}, func(_ context.Context, batch []bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			var a Anomaly
			if err := json.Unmarshal(m.Value, &a); err != nil {
				t.Errorf("anomaly is not JSON: %v", err)
				continue
			}
			if a.FlowID != m.Key || !a.Verdict.Alert || a.Verdict.Class != "Portscan" || len(a.Flow) == 0 {
				t.Errorf("anomaly %+v (key %s)", a, m.Key)
			}
			var rec map[string]any
			if err := json.Unmarshal(a.Flow, &rec); err != nil || len(rec) < 70 {
				t.Errorf("flow of %s: %d fields, %v", a.FlowID, len(rec), err)
			}
			got[a.FlowID] = true
		}
		return nil
	})
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == len(cls.alerts) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range cls.alerts {
		if !got[id] {
			t.Errorf("anomaly for flow %s never reached the bus", id)
		}
	}
	if len(got) != len(cls.alerts) {
		t.Errorf("%d anomalies on the bus, want %d", len(got), len(cls.alerts))
	}
}
