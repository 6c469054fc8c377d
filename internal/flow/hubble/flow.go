// Package hubble decodes Cilium Hubble flows exported as JSON lines — the
// output of `hubble observe -o json` and of the Hubble exporter / relay
// (one GetFlowsResponse per line: {"flow":{…},"node_name":…,"time":…}).
//
// The structs mirror the subset of cilium/cilium api/v1/flow/flow.proto
// that kubeward's per-pod features need, with the field names protojson
// writes (proto names: "source_port", "drop_reason_desc", "is_reply"; and
// the proto's own capitalised names "IP", "TCP", "UDP", "Type"). Enums are
// accepted as names (protojson's default) or numbers (UseEnumNumbers).
// Cilium's module is not imported: it is large and its generated types
// carry far more than kubeward reads.
package hubble

import (
	"net/netip"
	"time"
)

// Flow is one Hubble flow event (flow.Flow).
type Flow struct {
	// Time is when the event was observed.
	Time time.Time `json:"time"`
	// UUID identifies the event when the exporter sets it.
	UUID string `json:"uuid,omitempty"`
	// Verdict is what the datapath did with the packet.
	Verdict Verdict `json:"verdict"`
	// DropReasonDesc names the drop reason of a DROPPED flow
	// (e.g. POLICY_DENIED).
	DropReasonDesc DropReason `json:"drop_reason_desc,omitempty"`
	// IP is the layer-3 header.
	IP *IP `json:"IP,omitempty"`
	// L4 is the layer-4 header.
	L4 *Layer4 `json:"l4,omitempty"`
	// Source and Destination are the endpoints Cilium resolved.
	Source      *Endpoint `json:"source,omitempty"`
	Destination *Endpoint `json:"destination,omitempty"`
	// Type is L3_L4, L7 or SOCK.
	Type FlowType `json:"Type"`
	// NodeName is the node that observed the flow.
	NodeName string `json:"node_name,omitempty"`
	// L7 is set for flows seen by the L7 proxy (DNS, HTTP).
	L7 *Layer7 `json:"l7,omitempty"`
	// IsReply says whether the packet travels in the reply direction of
	// its connection; nil when Cilium does not know.
	IsReply *bool `json:"is_reply,omitempty"`
	// Reply is the deprecated form of IsReply (false when absent).
	Reply bool `json:"reply,omitempty"`
	// TrafficDirection is INGRESS or EGRESS relative to the endpoint that
	// observed the connection.
	TrafficDirection TrafficDirection `json:"traffic_direction,omitempty"`
}

// IP is the layer-3 part of a flow.
type IP struct {
	Source      netip.Addr `json:"source"`
	Destination netip.Addr `json:"destination"`
	Encrypted   bool       `json:"encrypted,omitempty"`
}

// Layer4 holds one of the transport headers.
type Layer4 struct {
	TCP    *TCP  `json:"TCP,omitempty"`
	UDP    *UDP  `json:"UDP,omitempty"`
	SCTP   *UDP  `json:"SCTP,omitempty"`
	ICMPv4 *ICMP `json:"ICMPv4,omitempty"`
	ICMPv6 *ICMP `json:"ICMPv6,omitempty"`
}

// TCP is a TCP header summary.
type TCP struct {
	SourcePort      uint16    `json:"source_port"`
	DestinationPort uint16    `json:"destination_port"`
	Flags           *TCPFlags `json:"flags,omitempty"`
}

// TCPFlags are the TCP flags of the observed packet.
type TCPFlags struct {
	FIN bool `json:"FIN,omitempty"`
	SYN bool `json:"SYN,omitempty"`
	RST bool `json:"RST,omitempty"`
	PSH bool `json:"PSH,omitempty"`
	ACK bool `json:"ACK,omitempty"`
	URG bool `json:"URG,omitempty"`
	ECE bool `json:"ECE,omitempty"`
	CWR bool `json:"CWR,omitempty"`
	NS  bool `json:"NS,omitempty"`
}

// UDP is a UDP (or SCTP) header summary.
type UDP struct {
	SourcePort      uint16 `json:"source_port"`
	DestinationPort uint16 `json:"destination_port"`
}

// ICMP is an ICMPv4 or ICMPv6 header summary.
type ICMP struct {
	Type uint8 `json:"type"`
	Code uint8 `json:"code"`
}

// Endpoint is a flow's source or destination as Cilium knows it.
type Endpoint struct {
	ID        uint32     `json:"ID,omitempty"`
	Identity  uint32     `json:"identity,omitempty"`
	Namespace string     `json:"namespace,omitempty"`
	Labels    []string   `json:"labels,omitempty"`
	PodName   string     `json:"pod_name,omitempty"`
	Workloads []Workload `json:"workloads,omitempty"`
}

// Workload is the controller owning a pod (e.g. Deployment web).
type Workload struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// Layer7 is the proxy's view of a request or response.
type Layer7 struct {
	Type L7Type `json:"type"`
	DNS  *DNS   `json:"dns,omitempty"`
	HTTP *HTTP  `json:"http,omitempty"`
}

// DNS is a DNS request or response.
type DNS struct {
	Query string   `json:"query,omitempty"`
	IPs   []string `json:"ips,omitempty"`
	// Rcode is the response code (3 is NXDOMAIN).
	Rcode  uint32   `json:"rcode,omitempty"`
	Qtypes []string `json:"qtypes,omitempty"`
}

// HTTP is an HTTP request or response.
type HTTP struct {
	Code     uint32 `json:"code,omitempty"`
	Method   string `json:"method,omitempty"`
	URL      string `json:"url,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// RcodeNXDomain is the DNS response code for a name that does not exist.
const RcodeNXDomain = 3

// IsReplyDirection reports whether f travels in the reply direction of
// its connection: is_reply when set, else the deprecated reply field, a
// TCP SYN+ACK, or an L7 response.
func (f *Flow) IsReplyDirection() bool {
	if f.IsReply != nil {
		return *f.IsReply
	}
	if f.Reply {
		return true
	}
	if f.L7 != nil && f.L7.Type == L7Response {
		return true
	}
	if t := f.TCP(); t != nil && t.Flags != nil && t.Flags.SYN && t.Flags.ACK {
		return true
	}
	return false
}

// TCP returns the TCP header, or nil.
func (f *Flow) TCP() *TCP {
	if f.L4 == nil {
		return nil
	}
	return f.L4.TCP
}

// Ports returns the transport protocol number (6 TCP, 17 UDP, 132 SCTP;
// 0 when none) and the source and destination ports.
func (f *Flow) Ports() (proto uint8, src, dst uint16) {
	switch {
	case f.L4 == nil:
		return 0, 0, 0
	case f.L4.TCP != nil:
		return 6, f.L4.TCP.SourcePort, f.L4.TCP.DestinationPort
	case f.L4.UDP != nil:
		return 17, f.L4.UDP.SourcePort, f.L4.UDP.DestinationPort
	case f.L4.SCTP != nil:
		return 132, f.L4.SCTP.SourcePort, f.L4.SCTP.DestinationPort
	}
	return 0, 0, 0
}

// Addrs returns the source and destination addresses (invalid when the
// flow has no IP header).
func (f *Flow) Addrs() (src, dst netip.Addr) {
	if f.IP == nil {
		return netip.Addr{}, netip.Addr{}
	}
	return f.IP.Source, f.IP.Destination
}

// WorkloadName returns "Kind/name" of the endpoint's first workload, or "".
func (e *Endpoint) WorkloadName() string {
	if e == nil || len(e.Workloads) == 0 || e.Workloads[0].Name == "" {
		return ""
	}
	w := e.Workloads[0]
	if w.Kind == "" {
		return w.Name
	}
	return w.Kind + "/" + w.Name
}
