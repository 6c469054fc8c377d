// Package sensortest measures anomaly latency for benchmarks: a consumer
// on an in-process bus receives the anomalies a flow sensor (packet or
// Hubble) publishes and records, per anomaly, the time from its flow or
// window closing (sensor.Anomaly.Time) to its receipt.
package sensortest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// Receiver consumes sensor.Topic on an in-process bus.
type Receiver struct {
	// Bus is where the sensor under test publishes.
	Bus *inproc.Bus

	mu       sync.Mutex
	changed  chan struct{}
	latency  []time.Duration
	receipts []time.Time
	invalid  int
	cancel   context.CancelFunc
	consumed chan error
}

// Start returns a Receiver consuming on a fresh in-process bus. Stop it
// when done.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	b := inproc.New(inproc.Options{})
	const group = "latency"
	if err := b.DeclareGroup(group, sensor.Topic); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receiver{Bus: b, changed: make(chan struct{}), cancel: cancel, consumed: make(chan error, 1)}
	go func() {
		r.consumed <- b.Consume(ctx, bus.ConsumeOptions{Group: group, Topics: []string{sensor.Topic}}, r.handle)
	}()
	return r
}

func (r *Receiver) handle(_ context.Context, batch []bus.Message) error {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range batch {
		var a sensor.Anomaly
		if err := json.Unmarshal(m.Value, &a); err != nil || a.Time.IsZero() {
			r.invalid++
			continue
		}
		r.latency = append(r.latency, now.Sub(a.Time))
		r.receipts = append(r.receipts, now)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// Received returns the number of anomalies received.
func (r *Receiver) Received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.latency) + r.invalid
}

// Wait blocks until n anomalies were received in all, or fails tb after
// limit.
func (r *Receiver) Wait(tb testing.TB, n int, limit time.Duration) {
	tb.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, ch := len(r.latency)+r.invalid, r.changed
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("received %d of %d anomalies within %s", got, n, limit)
		}
	}
}

// Latencies returns the recorded latencies, sorted.
func (r *Receiver) Latencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := slices.Clone(r.latency)
	slices.Sort(l)
	return l
}

// Receipts returns when each anomaly was received, in order, from the
// index'th on.
func (r *Receiver) Receipts(index int) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.receipts[min(index, len(r.receipts)):])
}

// ReportSince reports the p50, p99 and max of the time from one instant
// to each receipt, in milliseconds, with the given metric prefix; each
// of from[i] applies to the receipts in batches[i].
func ReportSince(b *testing.B, prefix string, from []time.Time, batches [][]time.Time) {
	var l []time.Duration
	for i, batch := range batches {
		for _, at := range batch {
			l = append(l, at.Sub(from[i]))
		}
	}
	if len(l) == 0 {
		b.Fatal("no anomaly received")
	}
	slices.Sort(l)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(Percentile(l, 0.50)), prefix+"-p50-ms")
	b.ReportMetric(ms(Percentile(l, 0.99)), prefix+"-p99-ms")
	b.ReportMetric(ms(l[len(l)-1]), prefix+"-max-ms")
}

// Report reports p50, p99 and max latency in milliseconds and the number
// of anomalies per benchmark iteration, and fails b when an anomaly could
// not be decoded.
func (r *Receiver) Report(b *testing.B) {
	l := r.Latencies()
	if r.invalid > 0 {
		b.Fatalf("%d anomalies could not be decoded", r.invalid)
	}
	if len(l) == 0 {
		b.Fatal("no anomaly received")
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(Percentile(l, 0.50)), "p50-ms")
	b.ReportMetric(ms(Percentile(l, 0.99)), "p99-ms")
	b.ReportMetric(ms(l[len(l)-1]), "max-ms")
	b.ReportMetric(float64(len(l))/float64(b.N), "anomalies/op")
}

// Percentile returns the p-quantile (0 < p ≤ 1) of sorted by the
// nearest-rank method.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Stop ends the consumer and closes the bus.
func (r *Receiver) Stop() error {
	r.cancel()
	err := <-r.consumed
	if cerr := r.Bus.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("latency receiver: %w", err)
	}
	return nil
}
