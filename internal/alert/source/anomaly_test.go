package source

import (
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/flow/sensor/sensortest"
)

func TestAnomalyBecomesAlert(t *testing.T) {
	msgs := sensortest.NmapAnomalies(t)
	var c Converter
	seen := map[alert.Fingerprint]bool{}
	for _, m := range msgs {
		a, err := c.Anomaly(m)
		if err != nil {
			t.Fatalf("anomaly %s: %v", m.Key, err)
		}
		if a.Source != alert.SourceAnomaly || a.Severity != alert.SeverityHigh {
			t.Fatalf("source %s severity %s, want anomaly/high", a.Source, a.Severity)
		}
		for _, l := range []string{alert.LabelAlertName, LabelClass, LabelSourceIP, LabelDestinationIP, LabelDestinationPort} {
			if a.Labels[l] == "" {
				t.Fatalf("alert lacks label %s: %v", l, a.Labels)
			}
		}
		if !strings.Contains(m.Key, a.Labels[LabelSourceIP]) || !strings.Contains(a.Annotations[AnnotationSummary], "Portscan") {
			t.Fatalf("alert %v does not describe flow %s", a, m.Key)
		}
		seen[a.Fingerprint()] = true
	}
	// Repeated flows between the same endpoints are one alert: the many
	// probes of the scan collapse into a handful.
	if len(seen) >= len(msgs) {
		t.Errorf("%d alerts for %d anomalous flows: repeats between the same endpoints must be one alert", len(seen), len(msgs))
	}
	t.Logf("%d anomalous flows → %d alerts", len(msgs), len(seen))
}

func TestAnomalyRejectsBadMessages(t *testing.T) {
	var c Converter
	now := time.Now()
	for name, body := range map[string]string{
		"not JSON":      `{"flow_id":`,
		"trailing data": `{"flow_id":"x","verdict":{"alert":true},"flow":{"Src IP":"10.0.0.1","Dst IP":"10.0.0.2"}} {}`,
		"benign":        `{"flow_id":"x","verdict":{"alert":false},"flow":{"Src IP":"10.0.0.1","Dst IP":"10.0.0.2"}}`,
		"no addresses":  `{"flow_id":"x","verdict":{"alert":true},"flow":{}}`,
		"flow not JSON": `{"flow_id":"x","verdict":{"alert":true},"flow":"nope"}`,
	} {
		if _, err := c.Anomaly(bus.Message{Topic: sensor.Topic, Value: []byte(body), Time: now}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
