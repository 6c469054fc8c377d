package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// Labels set on alerts raised by flow anomalies.
const (
	// LabelSourceIP is the address that opened the flow; automatic
	// response rules ban it with ${source_ip}.
	LabelSourceIP = "source_ip"
	// LabelDestinationIP and LabelDestinationPort are the flow's target.
	LabelDestinationIP   = "destination_ip"
	LabelDestinationPort = "destination_port"
	// LabelClass is the class the flow model judged most probable.
	LabelClass = "class"
)

// Annotations set on alerts raised by flow anomalies, besides summary.
const (
	AnnotationFlowID      = "flow_id"
	AnnotationProbability = "probability"
	AnnotationAnomaly     = "anomaly_score"
)

// GroupAnomalies is the consumer group turning flow anomalies into alerts.
const GroupAnomalies = "kubeward-alert-anomalies"

// KindAnomaly names anomaly messages in metrics.
const KindAnomaly = "anomaly"

// anomalyWorkloadLabels are the sensor.Anomaly labels copied onto alerts.
var anomalyWorkloadLabels = []string{"namespace", "pod", "workload", "node"}

// Anomaly converts a message of topic sensor.Topic, the JSON encoding of
// sensor.Anomaly.
//
// The alert is identified by the class and the flow's source address and
// destination (labels alertname "FlowAnomaly", class, source_ip,
// destination_ip, destination_port), so a scanner hitting one service
// many times is one alert. When the anomaly names its workload (Hubble
// anomalies do), namespace, pod, workload and node become labels too.
// Probabilities and the flow ID are annotations.
// Severity is high for a flow classified as an attack with probability
// at least 0.9, medium otherwise (a benign-class flow flagged only by the
// anomaly detector).
func (c Converter) Anomaly(msg bus.Message) (alert.Alert, error) {
	if err := checkSize(msg); err != nil {
		return alert.Alert{}, err
	}
	var an sensor.Anomaly
	dec := json.NewDecoder(bytes.NewReader(msg.Value))
	if err := dec.Decode(&an); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: invalid flow anomaly JSON: %w", coordinates(msg), err)
	}
	if dec.More() {
		return alert.Alert{}, fmt.Errorf("message %s: invalid flow anomaly JSON: trailing data after the anomaly object", coordinates(msg))
	}
	if !an.Verdict.Alert {
		return alert.Alert{}, fmt.Errorf("message %s: flow %s was judged benign: only anomalies are published", coordinates(msg), an.FlowID)
	}
	var flow struct {
		SrcIP   string `json:"Src IP"`
		DstIP   string `json:"Dst IP"`
		DstPort *int   `json:"Dst Port"`
	}
	if err := json.Unmarshal(an.Flow, &flow); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: anomaly's flow record: %w", coordinates(msg), err)
	}
	if flow.SrcIP == "" || flow.DstIP == "" {
		return alert.Alert{}, fmt.Errorf("message %s: anomaly's flow record has no Src IP or Dst IP", coordinates(msg))
	}
	src, err := ParseAddr(flow.SrcIP)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: anomaly's flow record: Src IP: %w", coordinates(msg), err)
	}
	dst, err := ParseAddr(flow.DstIP)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: anomaly's flow record: Dst IP: %w", coordinates(msg), err)
	}
	flow.SrcIP, flow.DstIP = src.String(), dst.String()
	start, err := eventTime(an.Time, msg)
	if err != nil {
		return alert.Alert{}, err
	}
	class := strings.TrimSpace(an.Verdict.Class)
	if class == "" {
		class = "unknown"
	}
	labels := alert.LabelSet{alert.LabelAlertName: "FlowAnomaly", LabelClass: class,
		LabelSourceIP: flow.SrcIP, LabelDestinationIP: flow.DstIP}
	if flow.DstPort != nil {
		labels[LabelDestinationPort] = strconv.Itoa(*flow.DstPort)
	}
	// Sources that know the workload (Hubble) name it; the address labels
	// above stay those of the flow record.
	for _, k := range anomalyWorkloadLabels {
		if v := strings.TrimSpace(an.Labels[k]); v != "" {
			labels[k] = v
		}
	}
	severity := alert.SeverityMedium
	if !strings.EqualFold(class, "benign") && an.Verdict.Probability >= 0.9 {
		severity = alert.SeverityHigh
	}
	annotations := map[string]string{
		AnnotationSummary:     fmt.Sprintf("%s flow %s → %s classified %s (p=%.3f, anomaly score %.3f)", strings.ToLower(an.Reason), flow.SrcIP, flow.DstIP, class, an.Verdict.Probability, an.Verdict.Anomaly),
		AnnotationFlowID:      an.FlowID,
		AnnotationProbability: strconv.FormatFloat(an.Verdict.Probability, 'f', 4, 64),
		AnnotationAnomaly:     strconv.FormatFloat(an.Verdict.Anomaly, 'f', 4, 64),
	}
	a := alert.Alert{
		Labels:      labels,
		Annotations: annotations,
		Severity:    severity,
		Source:      alert.SourceAnomaly,
		StartsAt:    start,
		EndsAt:      start.Add(c.resolveAfter()),
		GeneratorID: "bus/" + coordinates(msg),
	}
	if err := a.Normalize(); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: %w", coordinates(msg), err)
	}
	return a, nil
}
