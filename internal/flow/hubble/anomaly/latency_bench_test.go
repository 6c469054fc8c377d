package anomaly

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/hubble/hubbletest"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/flow/sensor/sensortest"
)

// BenchmarkWindowCloseToAnomaly replays one minute of Hubble JSON — 40
// pods with benign traffic, each also port-scanning in every window, so
// every window closes with 40 anomalies — through decoder → windows →
// detector → sensor queue → in-process bus → subscriber, as fast as it
// decodes, and reports the latency from each window's close to the
// receipt of its anomalies (p50, p99, max) and the lines decoded per
// second. No timing is asserted; run with -benchtime=1x or a few x.
func BenchmarkWindowCloseToAnomaly(b *testing.B) {
	c := hubbletest.NewCluster(40)
	g := hubbletest.NewWriter()
	rng := rand.New(rand.NewPCG(5, 6))
	g.Benign(rng, c, start, time.Minute)
	for w := range 6 {
		for i, cl := range c.Clients {
			g.PortScan(cl, c.Services[i%len(c.Services)], start.Add(time.Duration(w)*10*time.Second), 9*time.Second, 100)
		}
	}
	var input bytes.Buffer
	if _, err := g.WriteTo(&input); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(input.Bytes(), []byte{'\n'})

	recv := sensortest.Start(b)
	q, err := sensor.NewQueue(recv.Bus, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	sink := &countingSink{queue: q}
	b.ResetTimer()
	for range b.N {
		p := NewProcessor(features.Config{}, Config{}, sink, nil)
		if err := p.Run(ctx, hubble.NewReader(bytes.NewReader(input.Bytes())), time.Hour); err != nil {
			b.Fatal(err)
		}
		if sink.failed > 0 {
			b.Fatalf("%d anomalies not queued", sink.failed)
		}
		recv.Wait(b, sink.queued, 5*time.Minute)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if sink.queued != 6*len(c.Clients)*b.N {
		b.Fatalf("%d anomalies published, want %d", sink.queued, 6*len(c.Clients)*b.N)
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	recv.Report(b)
	if err := recv.Stop(); err != nil {
		b.Fatal(err)
	}
}

// countingSink publishes like Publisher and counts what the queue took.
type countingSink struct {
	queue          *sensor.Queue
	queued, failed int
}

func (*countingSink) Window(*features.Window) {}

func (s *countingSink) Anomaly(a *Anomaly, closed time.Time) {
	msg, err := a.Message(closed)
	if err == nil && s.queue.Offer(msg, closed) {
		s.queued++
	} else {
		s.failed++
	}
}
