package anomaly

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/kubeward/kubeward/internal/flow/hubble/features"
	"github.com/kubeward/kubeward/internal/flow/model"
	"github.com/kubeward/kubeward/internal/flow/sensor"
)

// Reason is the end_reason of Hubble anomalies on the bus.
const Reason = "hubble window"

// Labels carried by Hubble anomalies (sensor.Anomaly.Labels).
const (
	LabelNamespace = "namespace"
	LabelPod       = "pod"
	LabelWorkload  = "workload"
	LabelNode      = "node"
	LabelSourceIP  = "source_ip"
)

// Probabilities set on the verdict: guard rules are certain enough to be
// high-severity alerts, baseline deviations medium (the alert converter
// maps probability ≥ 0.9 to high).
const (
	ruleProbability     = 1
	baselineProbability = 0.5
)

// record is the anomaly's "flow": the keys the alert converter reads
// ("Src IP", "Dst IP", "Dst Port") and the window's features.
type record struct {
	SrcIP   string          `json:"Src IP"`
	DstIP   string          `json:"Dst IP,omitempty"`
	DstPort *int            `json:"Dst Port,omitempty"`
	Window  features.Window `json:"window"`
}

// ErrNoAddress is returned by Message for a window whose endpoint address
// is unknown: the alert pipeline and automatic response need one.
var ErrNoAddress = errors.New("hubble anomaly: the endpoint's IP address is unknown")

// ErrNoTarget is returned by Message for an anomaly without a peer
// address: the alert pipeline needs a destination.
var ErrNoTarget = errors.New("hubble anomaly: the anomaly has no target address")

// Message returns the anomaly as the flow sensor publishes it. The target
// (Dst IP/Port) depends on the class: the most scanned host and no
// port for a port scan (the alert stays one while the scan walks ports), the most contacted
// peer and port for a SYN flood, the answering server for NXDOMAIN and
// 5xx, the most contacted peer for a baseline deviation. closed is when
// the window was closed.
func (a *Anomaly) Message(closed time.Time) (sensor.Anomaly, error) {
	w := &a.Window
	if !w.IP.IsValid() {
		return sensor.Anomaly{}, fmt.Errorf("%w (window %s of %s)", ErrNoAddress, w.Start.Format(time.RFC3339), w.Subject)
	}
	rec := record{SrcIP: w.IP.String(), Window: *w}
	setDst := func(ip netip.Addr, port uint16) {
		if ip.IsValid() {
			rec.DstIP = ip.String()
		}
		if port != 0 {
			p := int(port)
			rec.DstPort = &p
		}
	}
	switch a.Class {
	case ClassPortScan:
		setDst(w.TopPeer, 0)
	case ClassSYNFlood:
		setDst(w.TopPeer, w.TopPort)
	case ClassNXDomainBurst:
		setDst(w.NXDomainServer.Addr(), w.NXDomainServer.Port())
	case ClassHTTP5xxStorm:
		setDst(w.HTTP5xxServer.Addr(), w.HTTP5xxServer.Port())
	default:
		setDst(w.TopPeer, 0)
	}
	if rec.DstIP == "" {
		return sensor.Anomaly{}, fmt.Errorf("%w: no peer address in window %s of %s", ErrNoTarget, w.Start.Format(time.RFC3339), w.Subject)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return sensor.Anomaly{}, fmt.Errorf("hubble anomaly: encode window: %w", err)
	}
	p := float64(ruleProbability)
	if a.Class == ClassBaselineDeviation {
		p = baselineProbability
	}
	labels := map[string]string{LabelSourceIP: w.IP.String()}
	for k, v := range map[string]string{LabelNamespace: w.Namespace, LabelPod: w.Pod, LabelWorkload: w.Workload, LabelNode: w.Node} {
		if v != "" {
			labels[k] = v
		}
	}
	return sensor.Anomaly{
		FlowID:  "hubble/" + w.Subject.String() + "/" + a.Class + "/" + strconv.FormatInt(w.Start.Unix(), 10),
		Reason:  Reason,
		Verdict: model.Verdict{Class: a.Class, Probability: p, Anomaly: a.Score, Alert: true},
		Flow:    body,
		Time:    closed.UTC(),
		Labels:  labels,
	}, nil
}
