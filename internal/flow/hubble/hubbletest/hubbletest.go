// Package hubbletest builds Hubble flow scenarios for tests and benchmarks
// — benign pod traffic and the attacks the Hubble detector must recognise
// — and writes them as JSON lines (the `hubble observe -o json` format),
// in time order as Hubble delivers them, so tests exercise the decoder on
// realistic lines.
package hubbletest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/kubeward/kubeward/internal/flow/hubble"
)

// Endpoint is a pod (Pod set) or an address outside the cluster.
type Endpoint struct {
	Namespace, Pod, Workload string
	IP                       netip.Addr
}

func (e Endpoint) hubble() *hubble.Endpoint {
	if e.Pod == "" {
		return &hubble.Endpoint{Labels: []string{"reserved:world"}}
	}
	ep := &hubble.Endpoint{Namespace: e.Namespace, PodName: e.Pod, Labels: []string{"k8s:app=" + e.Pod}}
	if e.Workload != "" {
		ep.Workloads = []hubble.Workload{{Name: e.Workload, Kind: "Deployment"}}
	}
	return ep
}

// Answer is how a connection attempt is answered.
type Answer int

// Answers.
const (
	// SYNACK: the port is open.
	SYNACK Answer = iota
	// RST: the port is closed.
	RST
	// Silent: no answer (filtered, spoofed, overwhelmed).
	Silent
	// Denied: the SYN is DROPPED by policy.
	Denied
)

// Writer collects the flows of a scenario; WriteTo writes them.
type Writer struct {
	// Node is the node_name of the flows.
	Node  string
	flows []*hubble.Flow
	port  uint16
}

// NewWriter returns an empty scenario.
func NewWriter() *Writer { return &Writer{Node: "kind-worker", port: 32768} }

// Flows returns the flows in time order.
func (g *Writer) Flows() []*hubble.Flow {
	slices.SortStableFunc(g.flows, func(a, b *hubble.Flow) int { return a.Time.Compare(b.Time) })
	return g.flows
}

type response struct {
	Flow     *hubble.Flow `json:"flow"`
	NodeName string       `json:"node_name"`
	Time     time.Time    `json:"time"`
}

// Flow adds f to the scenario.
func (g *Writer) Flow(f *hubble.Flow) {
	f.NodeName = g.Node
	g.flows = append(g.flows, f)
}

// WriteTo writes the flows in time order, one GetFlowsResponse JSON line
// each.
func (g *Writer) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var b []byte
	for _, f := range g.Flows() {
		var err error
		b, err = json.Marshal(response{Flow: f, NodeName: f.NodeName, Time: f.Time})
		if err != nil {
			return n, fmt.Errorf("encode flow: %w", err)
		}
		b = append(b, '\n')
		m, err := w.Write(b)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (g *Writer) ephemeral() uint16 {
	g.port++
	if g.port < 32768 {
		g.port = 32768
	}
	return g.port
}

func boolp(b bool) *bool { return &b }

func (g *Writer) l34(t time.Time, src, dst Endpoint, verdict hubble.Verdict, reply bool, l4 *hubble.Layer4) *hubble.Flow {
	f := &hubble.Flow{
		Time: t, Verdict: verdict, Type: hubble.TypeL3L4,
		IP:     &hubble.IP{Source: src.IP, Destination: dst.IP},
		L4:     l4,
		Source: src.hubble(), Destination: dst.hubble(),
		IsReply: boolp(reply), TrafficDirection: hubble.DirectionEgress,
	}
	if verdict == hubble.VerdictDropped {
		f.DropReasonDesc = "POLICY_DENIED"
	}
	return f
}

// Connect writes a TCP connection attempt from src to dst:port at t and
// its answer; an answered SYN+ACK is followed by the client's ACK and a
// FIN exchange.
func (g *Writer) Connect(t time.Time, src, dst Endpoint, port uint16, ans Answer) {
	sport := g.ephemeral()
	tcp := func(s, d uint16, fl hubble.TCPFlags) *hubble.Layer4 {
		return &hubble.Layer4{TCP: &hubble.TCP{SourcePort: s, DestinationPort: d, Flags: &fl}}
	}
	verdict := hubble.VerdictForwarded
	if ans == Denied {
		verdict = hubble.VerdictDropped
	}
	g.Flow(g.l34(t, src, dst, verdict, false, tcp(sport, port, hubble.TCPFlags{SYN: true})))
	rt := t.Add(300 * time.Microsecond)
	switch ans {
	case SYNACK:
		g.Flow(g.l34(rt, dst, src, hubble.VerdictForwarded, true, tcp(port, sport, hubble.TCPFlags{SYN: true, ACK: true})))
		g.Flow(g.l34(rt.Add(100*time.Microsecond), src, dst, hubble.VerdictForwarded, false, tcp(sport, port, hubble.TCPFlags{ACK: true})))
		g.Flow(g.l34(rt.Add(5*time.Millisecond), src, dst, hubble.VerdictForwarded, false, tcp(sport, port, hubble.TCPFlags{FIN: true, ACK: true})))
		g.Flow(g.l34(rt.Add(5300*time.Microsecond), dst, src, hubble.VerdictForwarded, true, tcp(port, sport, hubble.TCPFlags{FIN: true, ACK: true})))
	case RST:
		g.Flow(g.l34(rt, dst, src, hubble.VerdictForwarded, true, tcp(port, sport, hubble.TCPFlags{RST: true, ACK: true})))
	}
}

// DNS writes a query from client to server at t (UDP and L7 request) and
// the L7 response with rcode (0 NOERROR, 3 NXDOMAIN).
func (g *Writer) DNS(t time.Time, client, server Endpoint, query string, rcode uint32) {
	sport := g.ephemeral()
	udp := &hubble.Layer4{UDP: &hubble.UDP{SourcePort: sport, DestinationPort: 53}}
	g.Flow(g.l34(t, client, server, hubble.VerdictForwarded, false, udp))
	req := g.l34(t.Add(50*time.Microsecond), client, server, hubble.VerdictForwarded, false, udp)
	req.Type = hubble.TypeL7
	req.L7 = &hubble.Layer7{Type: hubble.L7Request, DNS: &hubble.DNS{Query: query, Qtypes: []string{"A"}}}
	g.Flow(req)
	resp := g.l34(t.Add(800*time.Microsecond), server, client, hubble.VerdictForwarded, true, &hubble.Layer4{UDP: &hubble.UDP{SourcePort: 53, DestinationPort: sport}})
	resp.Type = hubble.TypeL7
	resp.L7 = &hubble.Layer7{Type: hubble.L7Response, DNS: &hubble.DNS{Query: query, Rcode: rcode, Qtypes: []string{"A"}}}
	if rcode == 0 {
		resp.L7.DNS.IPs = []string{"10.96.0.20"}
	}
	g.Flow(resp)
}

// HTTP writes an HTTP request from client to server:port at t over a new
// connection, and its response with code.
func (g *Writer) HTTP(t time.Time, client, server Endpoint, port uint16, code uint32) {
	g.Connect(t, client, server, port, SYNACK)
	sport := g.port
	l4 := func(s, d uint16) *hubble.Layer4 {
		return &hubble.Layer4{TCP: &hubble.TCP{SourcePort: s, DestinationPort: d}}
	}
	req := g.l34(t.Add(time.Millisecond), client, server, hubble.VerdictForwarded, false, l4(sport, port))
	req.Type = hubble.TypeL7
	req.L7 = &hubble.Layer7{Type: hubble.L7Request, HTTP: &hubble.HTTP{Method: "GET", URL: "http://" + server.Pod + "/api", Protocol: "HTTP/1.1"}}
	g.Flow(req)
	resp := g.l34(t.Add(3*time.Millisecond), server, client, hubble.VerdictForwarded, true, l4(port, sport))
	resp.Type = hubble.TypeL7
	resp.L7 = &hubble.Layer7{Type: hubble.L7Response, HTTP: &hubble.HTTP{Code: code, Method: "GET", URL: "http://" + server.Pod + "/api", Protocol: "HTTP/1.1"}}
	g.Flow(resp)
}

// Cluster is a small cluster: client pods, services and kube-dns.
type Cluster struct {
	Clients  []Endpoint
	Services []Endpoint
	DNS      Endpoint
}

// NewCluster returns clients client pods (two replicas per Deployment)
// and three services.
func NewCluster(clients int) Cluster {
	c := Cluster{DNS: Endpoint{Namespace: "kube-system", Pod: "coredns-5d78c9869d-abcde", Workload: "coredns", IP: netip.MustParseAddr("10.244.0.2")}}
	for i := range clients {
		c.Clients = append(c.Clients, Endpoint{Namespace: "shop", Pod: fmt.Sprintf("frontend-%d", i), Workload: fmt.Sprintf("frontend%d", i/2), IP: netip.AddrFrom4([4]byte{10, 244, 1, byte(10 + i)})})
	}
	for i, name := range []string{"cart", "catalog", "checkout"} {
		c.Services = append(c.Services, Endpoint{Namespace: "shop", Pod: name + "-0", Workload: name, IP: netip.AddrFrom4([4]byte{10, 244, 2, byte(10 + i)})})
	}
	return c
}

// Benign writes d of ordinary traffic from every client from start: each
// second a client opens a few connections to the services on their ports,
// resolves a few names (about one in ten answered NXDOMAIN, as search
// domains cause) and gets HTTP answers (about one in a hundred a 503).
func (g *Writer) Benign(rng *rand.Rand, c Cluster, start time.Time, d time.Duration) {
	ports := []uint16{8080, 9090, 8443}
	for sec := time.Duration(0); sec < d; sec += time.Second {
		for _, cl := range c.Clients {
			t := start.Add(sec)
			for range 1 + rng.IntN(3) {
				i := rng.IntN(len(c.Services))
				g.Connect(t.Add(time.Duration(rng.IntN(900))*time.Millisecond), cl, c.Services[i], ports[i], SYNACK)
			}
			if rng.IntN(2) == 0 {
				var rcode uint32
				if rng.IntN(10) == 0 {
					rcode = hubble.RcodeNXDomain
				}
				g.DNS(t.Add(time.Duration(rng.IntN(900))*time.Millisecond), cl, c.DNS, "catalog.shop.svc.cluster.local.", rcode)
			}
			if rng.IntN(2) == 0 {
				code := uint32(200)
				if rng.IntN(100) == 0 {
					code = 503
				}
				i := rng.IntN(len(c.Services))
				g.HTTP(t.Add(time.Duration(rng.IntN(900))*time.Millisecond), cl, c.Services[i], ports[i], code)
			}
		}
	}
}

// PortScan writes a scan of ports 1..n of target from attacker over d
// (closed ports answer RST, a few are open).
func (g *Writer) PortScan(attacker, target Endpoint, start time.Time, d time.Duration, n int) {
	step := d / time.Duration(n)
	for i := range n {
		ans := RST
		if i%100 == 21 {
			ans = SYNACK
		}
		g.Connect(start.Add(time.Duration(i)*step), attacker, target, uint16(i+1), ans)
	}
}

// SYNFlood writes rate SYNs per second from attacker to target:port over
// d, answered only one in ten times.
func (g *Writer) SYNFlood(attacker, target Endpoint, port uint16, start time.Time, d time.Duration, rate int) {
	n := int(d.Seconds() * float64(rate))
	step := d / time.Duration(n)
	for i := range n {
		ans := Silent
		if i%10 == 0 {
			ans = SYNACK
		}
		g.Connect(start.Add(time.Duration(i)*step), attacker, target, port, ans)
	}
}

// NXDomainBurst writes rate lookups per second of random names (as a DGA
// would) from client over d, all answered NXDOMAIN.
func (g *Writer) NXDomainBurst(rng *rand.Rand, client, dns Endpoint, start time.Time, d time.Duration, rate int) {
	n := int(d.Seconds() * float64(rate))
	step := d / time.Duration(n)
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := range n {
		name := make([]byte, 12)
		for j := range name {
			name[j] = letters[rng.IntN(len(letters))]
		}
		g.DNS(start.Add(time.Duration(i)*step), client, dns, string(name)+".example.", hubble.RcodeNXDomain)
	}
}

// HTTP5xxStorm writes rate requests per second from client to server:port
// over d, answered 500 or 503.
func (g *Writer) HTTP5xxStorm(client, server Endpoint, port uint16, start time.Time, d time.Duration, rate int) {
	n := int(d.Seconds() * float64(rate))
	step := d / time.Duration(n)
	for i := range n {
		code := uint32(500)
		if i%2 == 1 {
			code = 503
		}
		g.HTTP(start.Add(time.Duration(i)*step), client, server, port, code)
	}
}
