// Package features turns Hubble flows into per-pod connection features
// over tumbling windows (10 s by default): new connections per second,
// the share of SYNs left unanswered, distinct destination ports and
// peers, drops per second, DNS NXDOMAIN and HTTP 5xx rates.
//
// Every flow is charged to the endpoint that initiated its connection —
// the source of a request, the destination of a reply — so a DNS NXDOMAIN
// answer or an HTTP 500 counts against the client that asked. Endpoints
// are pods (namespace/name) or, outside any pod, addresses.
//
// Windows follow the flows' own timestamps, so a replayed file gives the
// same windows as the live stream did. Memory is bounded: at most
// MaxSubjects endpoints per window, MaxDistinct ports and peers per
// endpoint, and a bounded de-duplication set (a packet observed both at
// the sending and at the receiving node is one packet).
package features

import (
	"encoding/json"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/flow/hubble"
)

// Defaults of Config.
const (
	DefaultWindow       = 10 * time.Second
	DefaultMaxSubjects  = 4096
	DefaultMaxDistinct  = 1024
	DefaultDedupHorizon = time.Second
	DefaultMaxDedup     = 1 << 16
)

// Config tunes an Aggregator. Zero fields take the defaults.
type Config struct {
	// Window is the length of a tumbling window; windows are aligned to
	// multiples of it since the Unix epoch.
	Window time.Duration
	// MaxSubjects bounds the endpoints tracked in one window; flows of
	// further endpoints are counted in
	// kubeward_flow_hubble_flows_untracked_total and not featurised.
	MaxSubjects int
	// MaxDistinct bounds the distinct ports and peers remembered per
	// endpoint and window; beyond it the counts saturate (Window.Saturated).
	MaxDistinct int
	// DedupHorizon is how long (in flow time) an L3/L4 event is
	// remembered to drop the same packet observed at a second node;
	// negative disables de-duplication.
	DedupHorizon time.Duration
	// MaxDedup bounds the events remembered per horizon.
	MaxDedup int
}

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.MaxSubjects <= 0 {
		c.MaxSubjects = DefaultMaxSubjects
	}
	if c.MaxDistinct <= 0 {
		c.MaxDistinct = DefaultMaxDistinct
	}
	if c.DedupHorizon == 0 {
		c.DedupHorizon = DefaultDedupHorizon
	}
	if c.MaxDedup <= 0 {
		c.MaxDedup = DefaultMaxDedup
	}
	return c
}

var (
	untracked = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_flows_untracked_total",
		Help: "Hubble flows not featurised because the window already tracked the maximum number of endpoints.",
	})
	unattributed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_flows_unattributed_total",
		Help: "Hubble flows with neither a pod nor an IP address for their initiating endpoint.",
	})
	duplicates = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_flows_duplicate_total",
		Help: "Hubble L3/L4 events dropped as a second observation of the same packet.",
	})
	late = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_flows_late_total",
		Help: "Hubble flows older than the open window (counted in the open window).",
	})
	windowsClosed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_flow_hubble_windows_total",
		Help: "Per-endpoint feature windows closed.",
	})
)

// Subject identifies the endpoint a window describes: a pod, or an
// address when the endpoint is not a pod.
type Subject struct {
	Namespace string     `json:"namespace,omitempty"`
	Pod       string     `json:"pod,omitempty"`
	Addr      netip.Addr `json:"addr,omitzero"`
}

// String is "namespace/pod" or the address.
func (s Subject) String() string {
	if s.Pod != "" {
		return s.Namespace + "/" + s.Pod
	}
	return s.Addr.String()
}

// Window holds one endpoint's features over one window.
type Window struct {
	Subject
	// Workload is "Kind/name" of the pod's owner when Hubble knows it.
	Workload string `json:"workload,omitempty"`
	// Node is the node that last observed the endpoint's flows.
	Node string `json:"node,omitempty"`
	// IP is the endpoint's address (the last seen).
	IP netip.Addr `json:"ip,omitzero"`
	// Start and End bound the window.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Flows is the number of events charged to the endpoint.
	Flows int `json:"flows"`
	// NewConnections counts TCP SYNs without ACK the endpoint sent.
	NewConnections int `json:"new_connections"`
	// Answered counts SYN+ACK and RST replies to the endpoint (at most
	// NewConnections).
	Answered int `json:"answered"`
	// DistinctPorts and DistinctPeers count destination ports (TCP, UDP,
	// SCTP) and peer addresses of the endpoint's connections.
	DistinctPorts int  `json:"distinct_ports"`
	DistinctPeers int  `json:"distinct_peers"`
	Saturated     bool `json:"saturated,omitempty"`
	// TopPeer and TopPort are the most contacted peer and destination port.
	TopPeer netip.Addr `json:"top_peer,omitzero"`
	TopPort uint16     `json:"top_port,omitempty"`
	// Drops counts the endpoint's DROPPED flows.
	Drops int `json:"drops"`
	// DNSResponses and NXDomain count DNS answers to the endpoint.
	DNSResponses int `json:"dns_responses"`
	NXDomain     int `json:"nxdomain"`
	// NXDomainServer answered the last NXDOMAIN.
	NXDomainServer netip.AddrPort `json:"nxdomain_server,omitzero"`
	// HTTPResponses and HTTP5xx count HTTP responses to the endpoint.
	HTTPResponses int `json:"http_responses"`
	HTTP5xx       int `json:"http_5xx"`
	// HTTP5xxServer sent the last 5xx.
	HTTP5xxServer netip.AddrPort `json:"http_5xx_server,omitzero"`
}

// Feature indexes the numeric features Values returns.
type Feature int

// The features.
const (
	NewConnRate Feature = iota
	UnansweredRatio
	DistinctPorts
	DistinctPeers
	DropRate
	NXDomainRate
	HTTP5xxRate
	NumFeatures
)

var featureNames = [NumFeatures]string{"new_conn_per_s", "syn_unanswered_ratio", "distinct_dst_ports", "distinct_peers", "drops_per_s", "nxdomain_per_s", "http_5xx_per_s"}

// String names the feature.
func (f Feature) String() string {
	if f >= 0 && f < NumFeatures {
		return featureNames[f]
	}
	return "unknown"
}

// Values returns the window's features, rates per second of window.
func (w *Window) Values() [NumFeatures]float64 {
	secs := w.End.Sub(w.Start).Seconds()
	if secs <= 0 {
		secs = 1
	}
	var v [NumFeatures]float64
	v[NewConnRate] = float64(w.NewConnections) / secs
	if w.NewConnections > 0 {
		v[UnansweredRatio] = float64(w.NewConnections-w.Answered) / float64(w.NewConnections)
	}
	v[DistinctPorts] = float64(w.DistinctPorts)
	v[DistinctPeers] = float64(w.DistinctPeers)
	v[DropRate] = float64(w.Drops) / secs
	v[NXDomainRate] = float64(w.NXDomain) / secs
	v[HTTP5xxRate] = float64(w.HTTP5xx) / secs
	return v
}

// MarshalJSON writes the counters and the derived features.
func (w Window) MarshalJSON() ([]byte, error) {
	type plain Window
	v := w.Values()
	feats := make(map[string]float64, NumFeatures)
	for i, x := range v {
		feats[Feature(i).String()] = x
	}
	return json.Marshal(struct {
		plain
		Features map[string]float64 `json:"features"`
	}{plain(w), feats})
}

type subjectState struct {
	w     Window
	ports map[uint32]uint32     // proto<<16 | port → SYNs/datagrams
	peers map[netip.Addr]uint32 // peer → SYNs/datagrams
}

// Aggregator accumulates flows into per-endpoint windows. It is not safe
// for concurrent use.
type Aggregator struct {
	cfg      Config
	start    time.Time // open window's start; zero before the first flow
	subjects map[Subject]*subjectState
	spare    []*subjectState

	seed               maphash.Seed
	dedupCur, dedupOld map[uint64]struct{}
	dedupStart         time.Time
}

// New returns an Aggregator.
func New(cfg Config) *Aggregator {
	cfg = cfg.withDefaults()
	return &Aggregator{
		cfg:      cfg,
		subjects: make(map[Subject]*subjectState),
		seed:     maphash.MakeSeed(),
		dedupCur: make(map[uint64]struct{}),
		dedupOld: make(map[uint64]struct{}),
	}
}

// Add accounts f. When f belongs to a later window, the open window is
// closed first and its per-endpoint features are appended to dst, which
// is returned.
func (a *Aggregator) Add(f *hubble.Flow, dst []Window) []Window {
	if a.start.IsZero() {
		a.start = f.Time.Truncate(a.cfg.Window)
	} else if !f.Time.Before(a.start.Add(a.cfg.Window)) {
		dst = a.close(dst)
		a.start = f.Time.Truncate(a.cfg.Window)
	} else if f.Time.Before(a.start) {
		late.Inc()
	}
	if f.Type == hubble.TypeSock {
		return dst // socket-level traces repeat what the L3/L4 events say
	}
	if a.duplicate(f) {
		duplicates.Inc()
		return dst
	}
	a.account(f)
	return dst
}

// Advance closes the open window when t is at or past its end, appending
// its features to dst. A live reader calls it when flows stop arriving.
func (a *Aggregator) Advance(t time.Time, dst []Window) []Window {
	if a.start.IsZero() || t.Before(a.start.Add(a.cfg.Window)) {
		return dst
	}
	dst = a.close(dst)
	a.start = t.Truncate(a.cfg.Window)
	return dst
}

// Flush closes the open window, appending its features to dst.
func (a *Aggregator) Flush(dst []Window) []Window {
	if a.start.IsZero() {
		return dst
	}
	dst = a.close(dst)
	a.start = time.Time{}
	return dst
}

// OpenWindowEnd returns the end of the open window (zero when none).
func (a *Aggregator) OpenWindowEnd() time.Time {
	if a.start.IsZero() {
		return time.Time{}
	}
	return a.start.Add(a.cfg.Window)
}

func (a *Aggregator) close(dst []Window) []Window {
	end := a.start.Add(a.cfg.Window)
	first := len(dst)
	for key, s := range a.subjects {
		w := s.w
		w.Start, w.End = a.start, end
		w.DistinctPorts, w.DistinctPeers = len(s.ports), len(s.peers)
		w.TopPeer = topPeer(s.peers)
		if p := topPort(s.ports); p != 0 {
			w.TopPort = uint16(p)
		}
		if w.Answered > w.NewConnections {
			w.Answered = w.NewConnections
		}
		dst = append(dst, w)
		windowsClosed.Inc()
		clear(s.ports)
		clear(s.peers)
		s.w = Window{}
		delete(a.subjects, key)
		a.spare = append(a.spare, s)
	}
	slices.SortFunc(dst[first:], func(x, y Window) int { return compareSubjects(x.Subject, y.Subject) })
	return dst
}

func compareSubjects(x, y Subject) int {
	if c := strings.Compare(x.Namespace, y.Namespace); c != 0 {
		return c
	}
	if c := strings.Compare(x.Pod, y.Pod); c != 0 {
		return c
	}
	return x.Addr.Compare(y.Addr)
}

func topPeer(m map[netip.Addr]uint32) netip.Addr {
	var best netip.Addr
	var n uint32
	for k, c := range m {
		if c > n || (c == n && k.Less(best)) {
			best, n = k, c
		}
	}
	return best
}

func topPort(m map[uint32]uint32) uint32 {
	var best, n uint32
	for k, c := range m {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	return best & 0xffff
}

// account charges f to the endpoint that initiated its connection.
func (a *Aggregator) account(f *hubble.Flow) {
	reply := f.IsReplyDirection()
	subj := f.Source
	subjIP, peerIP := f.Addrs()
	proto, srcPort, dstPort := f.Ports()
	if reply {
		subj = f.Destination
		subjIP, peerIP = peerIP, subjIP
	}
	var key Subject
	switch {
	case subj != nil && subj.PodName != "":
		key = Subject{Namespace: subj.Namespace, Pod: subj.PodName}
	case subjIP.IsValid():
		key = Subject{Addr: subjIP}
	default:
		unattributed.Inc()
		return
	}
	s := a.subjects[key]
	if s == nil {
		if len(a.subjects) >= a.cfg.MaxSubjects {
			untracked.Inc()
			return
		}
		if n := len(a.spare); n > 0 {
			s = a.spare[n-1]
			a.spare = a.spare[:n-1]
		} else {
			s = &subjectState{ports: make(map[uint32]uint32), peers: make(map[netip.Addr]uint32)}
		}
		s.w.Subject = key
		a.subjects[key] = s
	}
	w := &s.w
	w.Flows++
	if subjIP.IsValid() {
		w.IP = subjIP
	}
	if f.NodeName != "" {
		w.Node = f.NodeName
	}
	if wl := subj.WorkloadName(); wl != "" {
		w.Workload = wl
	}
	if f.Verdict == hubble.VerdictDropped {
		w.Drops++
	}
	if f.L7 != nil {
		if !reply {
			return
		}
		server := netip.AddrPortFrom(peerIP, srcPort)
		switch {
		case f.L7.DNS != nil:
			w.DNSResponses++
			if f.L7.DNS.Rcode == hubble.RcodeNXDomain {
				w.NXDomain++
				w.NXDomainServer = server
			}
		case f.L7.HTTP != nil:
			w.HTTPResponses++
			if f.L7.HTTP.Code >= 500 && f.L7.HTTP.Code <= 599 {
				w.HTTP5xx++
				w.HTTP5xxServer = server
			}
		}
		return
	}
	if reply {
		if t := f.TCP(); t != nil && t.Flags != nil && ((t.Flags.SYN && t.Flags.ACK) || t.Flags.RST) {
			w.Answered++
		}
		return
	}
	switch proto {
	case 6:
		t := f.TCP()
		if t.Flags == nil || !t.Flags.SYN || t.Flags.ACK {
			return
		}
		w.NewConnections++
	case 17, 132:
	default:
		return
	}
	a.remember(s, uint32(proto)<<16|uint32(dstPort), peerIP)
}

func (a *Aggregator) remember(s *subjectState, port uint32, peer netip.Addr) {
	if c, ok := s.ports[port]; ok || len(s.ports) < a.cfg.MaxDistinct {
		s.ports[port] = c + 1
	} else {
		s.w.Saturated = true
	}
	if !peer.IsValid() {
		return
	}
	if c, ok := s.peers[peer]; ok || len(s.peers) < a.cfg.MaxDistinct {
		s.peers[peer] = c + 1
	} else {
		s.w.Saturated = true
	}
}

// duplicate reports whether f is an L3/L4 event already seen within the
// de-duplication horizon, and remembers it otherwise. Two generations of
// hashes are kept: the current horizon and the previous one.
func (a *Aggregator) duplicate(f *hubble.Flow) bool {
	if a.cfg.DedupHorizon < 0 || f.L7 != nil || f.L4 == nil {
		return false
	}
	if a.dedupStart.IsZero() || f.Time.Sub(a.dedupStart) >= a.cfg.DedupHorizon {
		a.dedupCur, a.dedupOld = a.dedupOld, a.dedupCur
		clear(a.dedupCur)
		if a.dedupStart.IsZero() || f.Time.Sub(a.dedupStart) >= 2*a.cfg.DedupHorizon {
			clear(a.dedupOld) // the previous horizon is over too
		}
		a.dedupStart = f.Time
	}
	h := a.eventHash(f)
	if _, ok := a.dedupCur[h]; ok {
		return true
	}
	if _, ok := a.dedupOld[h]; ok {
		return true
	}
	if len(a.dedupCur) < a.cfg.MaxDedup {
		a.dedupCur[h] = struct{}{}
	}
	return false
}

func (a *Aggregator) eventHash(f *hubble.Flow) uint64 {
	var h maphash.Hash
	h.SetSeed(a.seed)
	src, dst := f.Addrs()
	b, _ := src.MarshalBinary()
	h.Write(b)
	b, _ = dst.MarshalBinary()
	h.Write(b)
	proto, sp, dp := f.Ports()
	var flags byte
	if t := f.TCP(); t != nil && t.Flags != nil {
		for i, set := range []bool{t.Flags.FIN, t.Flags.SYN, t.Flags.RST, t.Flags.PSH, t.Flags.ACK, t.Flags.URG} {
			if set {
				flags |= 1 << i
			}
		}
	}
	var reply byte
	if f.IsReplyDirection() {
		reply = 1
	}
	h.Write([]byte{proto, byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), flags, reply})
	return h.Sum64()
}
