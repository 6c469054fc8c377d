package sensor

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/flow/model"
)

// TestAppendJSONMatchesMarshal pins the hand-assembled encoding to what
// json.Marshal writes for the same anomaly.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 123, time.UTC)
	tests := []struct {
		name string
		a    Anomaly
	}{
		{"packet flow", Anomaly{FlowID: "10.0.0.1-10.0.0.2-1-2-6", Reason: "FIN", Verdict: model.Verdict{Class: "DoS <Hulk>", Probability: 0.97, Alert: true}, Flow: json.RawMessage(`{"Src IP":"10.0.0.1","Dst Port":80}`), Time: at}},
		{"hubble window with labels", Anomaly{FlowID: "hubble/ns/pod/PortScan/1", Reason: "hubble window", Verdict: model.Verdict{Class: "PortScan", Probability: 1, Anomaly: 6.5, Alert: true}, Flow: json.RawMessage(`{"Src IP":"10.0.0.1","Dst IP":"10.0.0.2","window":{"a":[1,2]}}`), Time: at, Labels: map[string]string{"pod": "p", "namespace": "n"}}},
		{"no flow", Anomaly{FlowID: "x", Time: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.a.appendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("appendJSON\n%s\njson.Marshal\n%s", got, want)
			}
		})
	}
}
