package flow

import (
	"math"
	"net/netip"
	"testing"
	"time"
)

var (
	client = netip.MustParseAddr("10.0.0.1")
	server = netip.MustParseAddr("10.0.0.2")
)

const t0 = int64(1_600_000_000_000_000) // µs

type pk struct {
	at      int64 // µs after t0
	fromSrv bool
	proto   uint8
	flags   uint16
	hdr     uint16
	payload uint32
	win     uint16
	sport   uint16
}

func (p pk) packet() Packet {
	q := Packet{Timestamp: t0 + p.at, Protocol: p.proto, Flags: p.flags, HeaderLen: p.hdr,
		PayloadLen: p.payload, Window: p.win, ICMPType: -1, ICMPCode: -1,
		SrcIP: client, DstIP: server, SrcPort: 40000, DstPort: 80}
	if p.sport != 0 {
		q.SrcPort = p.sport
	}
	if p.proto == 0 {
		q.Protocol = ProtoTCP
	}
	if p.fromSrv {
		q.SrcIP, q.DstIP, q.SrcPort, q.DstPort = q.DstIP, q.SrcIP, q.DstPort, q.SrcPort
	}
	return q
}

type emitted struct {
	rec    Record
	reason EndReason
}

func run(cfg Config, pkts []pk) []emitted {
	var out []emitted
	ex := NewExtractor(cfg, func(r *Record, why EndReason) { out = append(out, emitted{*r, why}) })
	for _, p := range pkts {
		q := p.packet()
		ex.Add(&q)
	}
	ex.Flush()
	return out
}

// handshake is a complete TCP connection with a 7 s pause before the
// teardown; every expected value below is computed by hand from it.
var handshake = []pk{
	{at: 0, flags: FlagSYN, hdr: 40, win: 29200},
	{at: 100, fromSrv: true, flags: FlagSYN | FlagACK, hdr: 40, win: 28960},
	{at: 300, flags: FlagACK, hdr: 32, win: 229},
	{at: 1300, flags: FlagPSH | FlagACK, hdr: 32, payload: 100},
	{at: 1800, fromSrv: true, flags: FlagPSH | FlagACK, hdr: 32, payload: 1000},
	{at: 7_001_800, flags: FlagFIN | FlagACK, hdr: 32},
	{at: 7_002_000, fromSrv: true, flags: FlagFIN | FlagACK, hdr: 32},
	{at: 7_002_100, flags: FlagACK, hdr: 32},
}

func TestHandshakeFeatures(t *testing.T) {
	pkts := append(append([]pk{}, handshake...), pk{at: 7_003_000, flags: FlagSYN, hdr: 40, win: 1024})
	out := run(Config{}, pkts)
	if len(out) != 2 {
		t.Fatalf("got %d flows, want 2 (the connection, then the SYN reusing its tuple)", len(out))
	}
	if out[0].reason != EndTCPReuse || out[1].reason != EndFlush {
		t.Errorf("end reasons = %v, %v; want tcp_reuse, flush", out[0].reason, out[1].reason)
	}
	r := out[0].rec
	if got, want := r.FlowID(), "10.0.0.1-10.0.0.2-40000-80-6"; got != want {
		t.Errorf("FlowID = %q, want %q", got, want)
	}
	if got := r.Start(); !got.Equal(time.UnixMicro(t0)) {
		t.Errorf("Start = %v", got)
	}
	secs := 7.0021
	want := map[int]float64{
		FlowDuration: 7_002_100, TotalFwdPackets: 5, TotalBwdPackets: 3,
		TotalLenFwd: 100, TotalLenBwd: 1000,
		FwdPktLenMax: 100, FwdPktLenMin: 0, FwdPktLenMean: 20, FwdPktLenStd: math.Sqrt(2000),
		BwdPktLenMax: 1000, BwdPktLenMin: 0, BwdPktLenMean: 1000.0 / 3, BwdPktLenStd: math.Sqrt(1e6 / 3),
		FlowBytesPerSec: 1100 / secs, FlowPacketsPerSec: 8 / secs,
		FlowIATMean: 7_002_100.0 / 7, FlowIATMax: 7_000_000, FlowIATMin: 100,
		FwdIATTotal: 7_002_100, FwdIATMean: 7_002_100.0 / 4, FwdIATMax: 7_000_500, FwdIATMin: 300,
		BwdIATTotal: 7_001_900, BwdIATMean: 7_001_900.0 / 2, BwdIATMax: 7_000_200, BwdIATMin: 1700,
		FwdPSHFlags: 1, BwdPSHFlags: 1, FwdRSTFlags: 0, BwdRSTFlags: 0,
		FwdHeaderLen: 40 + 4*32, BwdHeaderLen: 40 + 2*32,
		FwdPacketsPerSec: 5 / secs, BwdPacketsPerSec: 3 / secs,
		PktLenMin: 0, PktLenMax: 1000, PktLenMean: 137.5,
		FINCount: 2, SYNCount: 2, RSTCount: 0, PSHCount: 2, ACKCount: 7, URGCount: 0,
		DownUpRatio: 0.6, AvgPacketSize: 137.5, FwdSegSizeAvg: 20, BwdSegSizeAvg: 1000.0 / 3,
		FwdBytesPerBulk: 0, BwdBytesPerBulk: 0,
		SubflowFwdPackets: 0, SubflowFwdBytes: 12, SubflowBwdPackets: 0, SubflowBwdBytes: 125,
		FwdInitWinBytes: 29200, BwdInitWinBytes: 28960, FwdActDataPkts: 1, FwdSegSizeMin: 32,
		ActiveMean: 1800, ActiveStd: 0, ActiveMax: 1800, ActiveMin: 1800,
		IdleMean: 7_000_000, IdleMax: 7_000_000, IdleMin: 7_000_000,
		ICMPCode: -1, ICMPType: -1, TotalTCPFlowTime: 7_002_100,
	}
	for i, w := range want {
		if got := r.Values[i]; math.Abs(got-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %v, want %v", ValueColumns[i].Name, got, w)
		}
	}
	// Flow IAT std over 100,200,1000,500,7000000,200,100.
	iats := []float64{100, 200, 1000, 500, 7_000_000, 200, 100}
	if got, w := r.Values[FlowIATStd], sampleStd(iats); math.Abs(got-w) > 1e-6 {
		t.Errorf("Flow IAT Std = %v, want %v", got, w)
	}
	n := out[1].rec
	if n.Values[TotalFwdPackets] != 1 || n.Values[SYNCount] != 1 || n.Values[FwdInitWinBytes] != 1024 {
		t.Errorf("second flow = %v fwd packets, %v SYN, init win %v; want 1, 1, 1024",
			n.Values[TotalFwdPackets], n.Values[SYNCount], n.Values[FwdInitWinBytes])
	}
}

func sampleStd(xs []float64) float64 {
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var s float64
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}

func TestFlowSplitting(t *testing.T) {
	sec := int64(1_000_000)
	tests := []struct {
		name    string
		cfg     Config
		pkts    []pk
		reasons []EndReason
		fwd     []float64 // forward packets per flow
		bwd     []float64
		tcpTime []float64 // Total TCP Flow Time per flow
	}{
		{
			name:    "udp flow timeout",
			cfg:     Config{FlowTimeout: 10 * time.Second},
			pkts:    []pk{{at: 0, proto: ProtoUDP, hdr: 8, payload: 10}, {at: 4 * sec, fromSrv: true, proto: ProtoUDP, hdr: 8}, {at: 11 * sec, proto: ProtoUDP, hdr: 8}},
			reasons: []EndReason{EndTimeout, EndFlush},
			fwd:     []float64{1, 1}, bwd: []float64{1, 0}, tcpTime: []float64{0, 0},
		},
		{
			name:    "tcp connection continues after timeout with its direction",
			cfg:     Config{FlowTimeout: 10 * time.Second},
			pkts:    []pk{{at: 0, flags: FlagSYN, hdr: 40}, {at: 1 * sec, fromSrv: true, flags: FlagSYN | FlagACK, hdr: 40}, {at: 12 * sec, fromSrv: true, flags: FlagACK | FlagPSH, hdr: 32, payload: 5}},
			reasons: []EndReason{EndTimeout, EndFlush},
			fwd:     []float64{1, 0}, bwd: []float64{1, 1}, tcpTime: []float64{1 * float64(sec), 12 * float64(sec)},
		},
		{
			name:    "rst ends connection, later packets stay until a new SYN",
			pkts:    []pk{{at: 0, flags: FlagSYN, hdr: 40}, {at: 10, fromSrv: true, flags: FlagRST | FlagACK, hdr: 20}, {at: 20, flags: FlagRST, hdr: 20}, {at: 30, flags: FlagSYN, hdr: 40}},
			reasons: []EndReason{EndTCPReuse, EndFlush},
			fwd:     []float64{2, 1}, bwd: []float64{1, 0}, tcpTime: []float64{20, 0},
		},
		{
			name:    "syn-ack does not end a terminated flow",
			pkts:    []pk{{at: 0, flags: FlagSYN, hdr: 40}, {at: 10, fromSrv: true, flags: FlagRST | FlagACK, hdr: 20}, {at: 20, fromSrv: true, flags: FlagSYN | FlagACK, hdr: 40}},
			reasons: []EndReason{EndFlush},
			fwd:     []float64{1}, bwd: []float64{2}, tcpTime: []float64{20},
		},
		{
			name:    "table bound evicts the oldest flow",
			cfg:     Config{MaxFlows: 2},
			pkts:    []pk{{at: 0, proto: ProtoUDP, sport: 1}, {at: 1, proto: ProtoUDP, sport: 2}, {at: 2, proto: ProtoUDP, sport: 3}, {at: 3, proto: ProtoUDP, sport: 2}},
			reasons: []EndReason{EndEvicted, EndFlush, EndFlush},
			fwd:     []float64{1, 2, 1}, bwd: []float64{0, 0, 0}, tcpTime: []float64{0, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(tc.cfg, tc.pkts)
			if len(out) != len(tc.reasons) {
				t.Fatalf("got %d flows, want %d", len(out), len(tc.reasons))
			}
			for i, e := range out {
				v := e.rec.Values
				if e.reason != tc.reasons[i] || v[TotalFwdPackets] != tc.fwd[i] || v[TotalBwdPackets] != tc.bwd[i] || v[TotalTCPFlowTime] != tc.tcpTime[i] {
					t.Errorf("flow %d (%s): reason %v fwd %v bwd %v tcp time %v; want %v %v %v %v", i, e.rec.FlowID(),
						e.reason, v[TotalFwdPackets], v[TotalBwdPackets], v[TotalTCPFlowTime],
						tc.reasons[i], tc.fwd[i], tc.bwd[i], tc.tcpTime[i])
				}
				if e.rec.SrcIP != client {
					t.Errorf("flow %d: source %v, want the connection's initiator %v", i, e.rec.SrcIP, client)
				}
			}
		})
	}
}

func TestBulk(t *testing.T) {
	tests := []struct {
		n                    int
		bytes, pkts, rateBps float64
	}{
		{3, 0, 0, 0},
		{4, 400, 4, math.Floor(400 / 0.0003)},
		{5, 500, 5, math.Floor(500 / 0.0004)},
	}
	for _, tc := range tests {
		var pkts []pk
		for i := range tc.n {
			pkts = append(pkts, pk{at: int64(i) * 100, proto: ProtoUDP, hdr: 8, payload: 100})
		}
		v := run(Config{}, pkts)[0].rec.Values
		if v[FwdBytesPerBulk] != tc.bytes || v[FwdPacketsPerBulk] != tc.pkts || v[FwdBulkRate] != tc.rateBps {
			t.Errorf("%d packets: bulk bytes %v packets %v rate %v; want %v %v %v", tc.n,
				v[FwdBytesPerBulk], v[FwdPacketsPerBulk], v[FwdBulkRate], tc.bytes, tc.pkts, tc.rateBps)
		}
	}
}

func TestOutOfOrderPacketsKeepTimeMonotonic(t *testing.T) {
	out := run(Config{}, []pk{{at: 1000, proto: ProtoUDP}, {at: 500, fromSrv: true, proto: ProtoUDP}})
	if v := out[0].rec.Values; v[FlowIATMin] != 0 || v[FlowDuration] != 0 {
		t.Errorf("IAT min %v duration %v; want 0, 0 (late packet clamped)", v[FlowIATMin], v[FlowDuration])
	}
}
