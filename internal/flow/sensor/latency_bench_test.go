package sensor_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/flowtest"
	"github.com/kubeward/kubeward/internal/flow/model"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/flow/sensor/sensortest"
)

// flagAll judges every flow an attack, so every closed flow becomes an
// anomaly: the benchmark measures the pipeline, not a model (the models'
// own speed is benchmarked in package model).
type flagAll struct{}

func (flagAll) Classify(*flow.Record) model.Verdict {
	return model.Verdict{Class: "SYN flood", Probability: 1, Alert: true}
}

// pacer delays each flow's close to a steady rate, as flows end on a live
// capture, instead of the extractor's replay speed.
type pacer struct {
	next     time.Time
	interval time.Duration
	emit     flow.EmitFunc
}

func (p *pacer) Emit(r *flow.Record, reason flow.EndReason) {
	if d := time.Until(p.next); d > 0 {
		time.Sleep(d)
	}
	p.next = p.next.Add(p.interval)
	p.emit(r, reason)
}

// BenchmarkCloseToAnomaly replays pkt.TCP.synflood.spoofed.pcap (37,841
// spoofed SYN flows) through extractor → sensor → in-process bus →
// subscriber and reports the latency from each flow's close to the
// subscriber's receipt of its anomaly (p50, p99, max).
//
//   - burst: the pcap as fast as it decodes; the SYN flows stay open until
//     the end of the file, so all 37,669 end at once when the extractor is
//     flushed. p50/p99/max-ms run from each flow's hand-over to the sensor
//     (Anomaly.Time); end-p50/p99/max-ms run from the instant all flows
//     ended (the flush), so they include classifying and encoding the
//     whole backlog — the worst case.
//   - paced-10k: flows are handed to the sensor at a steady 10,000 per
//     second, a heavy live flood.
//   - paced-1k: the first 5,000 flows at 1,000 per second.
//
// No timing is asserted; run with -benchtime=1x (one replay per
// sub-benchmark).
func BenchmarkCloseToAnomaly(b *testing.B) {
	pcap, err := os.ReadFile(flowtest.Path(b, "pcaps", "stopddos", "pkt.TCP.synflood.spoofed.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name  string
		rate  int // flows closed per second; 0: unpaced
		limit int // flows replayed; 0: all
	}{{"burst", 0, 0}, {"paced-10k", 10000, 0}, {"paced-1k", 1000, 5000}} {
		b.Run(mode.name, func(b *testing.B) {
			recv := sensortest.Start(b)
			s, err := sensor.New(flagAll{}, recv.Bus, 1<<16, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			dropped0 := testutil.ToFloat64(sensor.AnomaliesDropped)
			expected := 0
			var ends []time.Time
			var batches [][]time.Time
			b.ResetTimer()
			for range b.N {
				emit := s.Emit
				if mode.rate > 0 {
					p := &pacer{next: time.Now(), interval: time.Second / time.Duration(mode.rate), emit: s.Emit}
					emit = p.Emit
				}
				flows := 0
				before := recv.Received()
				ex := flow.NewExtractor(flow.Config{}, func(r *flow.Record, reason flow.EndReason) {
					if mode.limit > 0 && flows == mode.limit {
						return
					}
					flows++
					emit(r, reason)
				})
				if _, err := capture.Read(ctx, bytes.NewReader(pcap), ex); err != nil {
					b.Fatal(err)
				}
				ends = append(ends, time.Now())
				ex.Flush()
				expected += flows
				recv.Wait(b, expected-int(testutil.ToFloat64(sensor.AnomaliesDropped)-dropped0), 5*time.Minute)
				batches = append(batches, recv.Receipts(before))
			}
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if d := testutil.ToFloat64(sensor.AnomaliesDropped) - dropped0; d > 0 {
				b.ReportMetric(d/float64(b.N), "dropped/op")
			}
			recv.Report(b)
			if mode.rate == 0 {
				sensortest.ReportSince(b, "end", ends, batches)
			}
			if err := recv.Stop(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
