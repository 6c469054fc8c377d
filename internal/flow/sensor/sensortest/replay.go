package sensortest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/model"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/shareddata"
)

// Portscan judges every TCP flow a port scan (probability 0.97) and every
// other flow benign, so that a real capture yields anomalies whatever
// model is trained.
type Portscan struct{}

// Classify implements model.Classifier.
func (Portscan) Classify(r *flow.Record) model.Verdict {
	if r.Protocol != 6 {
		return model.Verdict{Class: "BENIGN", Probability: 1, BenignProbability: 1}
	}
	return model.Verdict{Class: "Portscan", Probability: 0.97, Anomaly: 0.7, Alert: true}
}

// NmapAnomalies runs the real nmap capture of ../shared/data
// (pcaps/esnet/nmap_80_vanilla.pcap) through the real flow extractor and a
// Sensor judging with Portscan, and returns the messages the sensor
// publishes. It fails tb when the capture yields none.
func NmapAnomalies(tb testing.TB) []bus.Message {
	tb.Helper()
	pub := &recorder{}
	s, err := sensor.New(Portscan{}, pub, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ex := flow.NewExtractor(flow.Config{}, s.Emit)
	if _, err := capture.ReadFile(context.Background(), shareddata.Path(tb, filepath.Join("pcaps", "esnet", "nmap_80_vanilla.pcap")), ex); err != nil {
		tb.Fatal(err)
	}
	ex.Flush()
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	if len(pub.msgs) == 0 {
		tb.Fatal("the nmap capture produced no anomaly")
	}
	return pub.msgs
}

// recorder keeps what the sensor publishes.
type recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func (p *recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}
