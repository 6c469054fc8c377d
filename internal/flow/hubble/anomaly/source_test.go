package anomaly

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/hubble/hubbletest"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// TestSourcePublishes runs the flow-sensor's Hubble input end to end: a
// stream with a port scan in it, read until its end, leaves exactly one
// anomaly on sensor.Topic, keyed and labelled for the attacker.
func TestSourcePublishes(t *testing.T) {
	c := hubbletest.NewCluster(3)
	g := hubbletest.NewWriter()
	g.Benign(rand.New(rand.NewPCG(9, 10)), c, start, time.Minute)
	g.PortScan(c.Clients[2], c.Services[0], start.Add(30*time.Second), 10*time.Second, 120)
	var in bytes.Buffer
	if _, err := g.WriteTo(&in); err != nil {
		t.Fatal(err)
	}
	in.WriteString("{\"flow\":{\"verdict\":\"FORWARDED\"}}\n") // no time: skipped

	b := inproc.New(inproc.Options{})
	defer b.Close()
	if err := b.DeclareGroup("test", sensor.Topic); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(&in, b, features.Config{}, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(t.Context()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan bus.Message, 16)
	go b.Consume(ctx, bus.ConsumeOptions{Group: "test", Topics: []string{sensor.Topic}}, func(_ context.Context, batch []bus.Message) error {
		for _, m := range batch {
			got <- m
		}
		return nil
	})
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if len(got) != 1 {
		t.Fatalf("%d anomalies on the bus, want 1", len(got))
	}
	m := <-got
	var a sensor.Anomaly
	if err := json.Unmarshal(m.Value, &a); err != nil {
		t.Fatal(err)
	}
	want := "hubble/shop/" + c.Clients[2].Pod + "/PortScan/" + itoa(start.Add(30*time.Second).Unix())
	if m.Key != want || a.FlowID != want || a.Verdict.Class != ClassPortScan || a.Labels[LabelPod] != c.Clients[2].Pod || a.Labels[LabelSourceIP] != c.Clients[2].IP.String() {
		t.Errorf("key %q, anomaly %+v; want key %q", m.Key, a, want)
	}
}

// TestTickClosesIdleWindow: when flows stop, the open window is closed
// once the wall clock says its end plus the grace has passed; a replay
// that keeps flows coming is not cut short by ticks.
func TestTickClosesIdleWindow(t *testing.T) {
	c := hubbletest.NewCluster(1)
	g := hubbletest.NewWriter()
	g.SYNFlood(c.Clients[0], c.Services[0], 8080, start, 10*time.Second, 200)
	rec := &recorder{}
	p := NewProcessor(features.Config{}, Config{}, rec, nil)
	r := hubble.NewReader(func() io.Reader {
		var buf bytes.Buffer
		if _, err := g.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return &buf
	}())
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Add(f)
		p.Tick(time.Now()) // flows keep arriving: nothing closes
	}
	if len(rec.windows) != 0 {
		t.Fatalf("%d windows closed while flows were arriving", len(rec.windows))
	}
	p.Tick(time.Now().Add(500 * time.Millisecond)) // within the grace
	if len(rec.windows) != 0 {
		t.Fatal("window closed before its end plus grace")
	}
	p.Tick(time.Now().Add(DefaultGrace + 2*time.Second))
	if len(rec.windows) != 1 || len(rec.anomalies) != 1 || rec.anomalies[0].Class != ClassSYNFlood {
		t.Fatalf("windows %d, anomalies %v", len(rec.windows), summary(rec.anomalies))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
