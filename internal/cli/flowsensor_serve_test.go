package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/kafka"
	"github.com/kubeward/kubeward/internal/flow/hubble/anomaly"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// startKafka runs an in-process Kafka broker (kfake) on a loopback port
// for the test and returns its --bus URL and broker addresses.
func startKafka(t *testing.T) (string, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1)) // listens on 127.0.0.1
	if err != nil {
		t.Fatalf("start the kfake broker: %v", err)
	}
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	return "kafka://" + strings.Join(addrs, ","), addrs
}

// TestServeFlowSensorRefusesBadFlags: the flow-sensor role needs a shared
// bus and an input, and live capture needs a model.
func TestServeFlowSensorRefusesBadFlags(t *testing.T) {
	busURL, _ := startKafka(t)
	for _, tc := range []struct {
		name string
		bus  string
		args []string
		want []string
	}{
		{"in-process bus", "inproc", []string{"--hubble-file", "-"}, []string{"--role flow-sensor", "--bus kafka://"}},
		{"no input", busURL, nil, []string{"--flow-interface", "--hubble-file"}},
		{"interface without a model", busURL, []string{"--flow-interface", "lo"}, []string{"--flow-interface needs --flow-model"}},
		{"missing Hubble file", busURL, []string{"--hubble-file", filepath.Join(t.TempDir(), "missing.jsonl")}, []string{"--hubble-file", "missing.jsonl"}},
		{"missing model", busURL, []string{"--flow-interface", "lo", "--flow-model", filepath.Join(t.TempDir(), "missing.json")}, []string{"--flow-model"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--role", roleFlow}, tc.args...)
			code, errOut := serveRefused(t, []string{"--bus", tc.bus, "--log-level", "error"}, args...)
			if code != ExitError {
				t.Errorf("serve %v exited %d, want %d: %s", args, code, ExitError, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("serve %v said %q; want it to mention %q", args, errOut, w)
				}
			}
		})
	}
}

// TestServeFlowSensorHubbleFile runs `serve --role flow-sensor
// --hubble-file` against an in-process Kafka broker: the SYN flood in the
// followed Hubble flows is published on flow.anomalies, and the bad line
// before it is skipped.
func TestServeFlowSensorHubbleFile(t *testing.T) {
	busURL, brokers := startKafka(t)
	flows, attacker := writeHubbleFlows(t, 3*time.Minute, true, "this is not JSON\n")
	startServe(t, []string{"--bus", busURL, "--log-level", "warn"}, "--role", roleFlow, "--hubble-file", flows)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumer, err := kafka.New(ctx, kafka.Options{
		Brokers:           brokers,
		ClientID:          "kubeward-test",
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("connect a consumer to the kfake broker: %v", err)
	}
	defer consumer.Close()
	got := make(chan bus.Message, 64)
	consumed := make(chan error, 1)
	go func() {
		consumed <- consumer.Consume(ctx, bus.ConsumeOptions{Group: "kubeward-test", Topics: []string{sensor.Topic}}, func(_ context.Context, batch []bus.Message) error {
			for _, m := range batch {
				got <- m
			}
			return nil
		})
	}()

	var anomalies []sensor.Anomaly
	pollUntil(t, "a SYN flood anomaly on "+sensor.Topic, func() (bool, error) {
		for {
			select {
			case err := <-consumed:
				t.Fatalf("consuming %s stopped: %v", sensor.Topic, err)
			case m := <-got:
				var a sensor.Anomaly
				if err := json.Unmarshal(m.Value, &a); err != nil {
					t.Fatalf("message on %s is not an anomaly: %v\n%s", sensor.Topic, err, m.Value)
				}
				anomalies = append(anomalies, a)
			default:
				for _, a := range anomalies {
					if a.Verdict.Class == anomaly.ClassSYNFlood {
						return true, nil
					}
				}
				return false, errors.New("no SYN flood yet")
			}
		}
	})
	// The flows are benign but for the flood: every anomaly is the
	// attacker's flood.
	for _, a := range anomalies {
		if a.Verdict.Class != anomaly.ClassSYNFlood || a.Reason != anomaly.Reason ||
			a.Labels[anomaly.LabelPod] != attacker.Pod || a.Labels[anomaly.LabelNamespace] != attacker.Namespace {
			t.Errorf("anomaly %+v; want only the SYN flood of %s/%s", a, attacker.Namespace, attacker.Pod)
		}
	}
}
