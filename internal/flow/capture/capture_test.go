package capture_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
	"github.com/kubeward/kubeward/internal/flow/flowtest"
)

// collect reads the capture files into flows.
func collect(t *testing.T, paths ...string) ([]flow.Record, flow.FrameStats) {
	t.Helper()
	var out []flow.Record
	ex := flow.NewExtractor(flow.Config{}, func(r *flow.Record, _ flow.EndReason) { out = append(out, *r) })
	var total flow.FrameStats
	for _, p := range paths {
		st, err := capture.ReadFile(context.Background(), p, ex)
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", p, err)
		}
		total.Merge(st)
	}
	ex.Flush()
	return out, total
}

func packetsIn(recs []flow.Record) uint64 {
	var n uint64
	for _, r := range recs {
		n += uint64(r.Values[flow.TotalFwdPackets] + r.Values[flow.TotalBwdPackets])
	}
	return n
}

// flagsOf turns the tcp-control file name notation (U A P R S F, "None")
// into flag bits.
func flagsOf(t *testing.T, s string) uint16 {
	var f uint16
	if s == "None" {
		return 0
	}
	for _, c := range s {
		switch c {
		case 'U':
			f |= flow.FlagURG
		case 'A':
			f |= flow.FlagACK
		case 'P':
			f |= flow.FlagPSH
		case 'R':
			f |= flow.FlagRST
		case 'S':
			f |= flow.FlagSYN
		case 'F':
			f |= flow.FlagFIN
		default:
			t.Fatalf("unknown flag letter %q in %q", c, s)
		}
	}
	return f
}

type flagCounts struct{ fin, syn, rst, psh, ack, urg, fwdPSH, bwdPSH, fwdURG, bwdURG, fwdRST, bwdRST, fwd, bwd float64 }

func countsOf(r *flow.Record) flagCounts {
	v := r.Values
	return flagCounts{v[flow.FINCount], v[flow.SYNCount], v[flow.RSTCount], v[flow.PSHCount], v[flow.ACKCount], v[flow.URGCount],
		v[flow.FwdPSHFlags], v[flow.BwdPSHFlags], v[flow.FwdURGFlags], v[flow.BwdURGFlags], v[flow.FwdRSTFlags], v[flow.BwdRSTFlags],
		v[flow.TotalFwdPackets], v[flow.TotalBwdPackets]}
}

// expectFlow is the hand rule: each flag set in a packet counts once in
// the totals and once in the direction-specific PSH/URG/RST counters.
func expectFlow(fwdFlags, bwdFlags []uint16) flagCounts {
	var c flagCounts
	one := func(f, m uint16) float64 {
		if f&m != 0 {
			return 1
		}
		return 0
	}
	add := func(f uint16, fwd bool) {
		c.fin += one(f, flow.FlagFIN)
		c.syn += one(f, flow.FlagSYN)
		c.rst += one(f, flow.FlagRST)
		c.psh += one(f, flow.FlagPSH)
		c.ack += one(f, flow.FlagACK)
		c.urg += one(f, flow.FlagURG)
		if fwd {
			c.fwd++
			c.fwdPSH += one(f, flow.FlagPSH)
			c.fwdURG += one(f, flow.FlagURG)
			c.fwdRST += one(f, flow.FlagRST)
		} else {
			c.bwd++
			c.bwdPSH += one(f, flow.FlagPSH)
			c.bwdURG += one(f, flow.FlagURG)
			c.bwdRST += one(f, flow.FlagRST)
		}
	}
	for _, f := range fwdFlags {
		add(f, true)
	}
	for _, f := range bwdFlags {
		add(f, false)
	}
	return c
}

// TestTCPControlFlags checks exact flag counts per flow on every
// two-packet capture of esnet's tcp-control set (file name
// two_way_<client flags>_<server flags>.pcap). The two packets form one
// flow, except when the client's packet terminated the connection (RST)
// and the server's is a bare SYN: that opens a new connection.
func TestTCPControlFlags(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(flowtest.Path(t, "pcaps", "esnet", "tcp-control", "exhaustive", "two_way"), "*", "*.pcap"))
	if err != nil || len(files) < 1000 {
		t.Fatalf("found %d tcp-control captures (%v), want the exhaustive set", len(files), err)
	}
	for _, file := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".pcap"), "_")
		orig, resp := flagsOf(t, parts[2]), flagsOf(t, parts[3])
		recs, st := collect(t, file)
		var want [][2][]uint16
		if orig&flow.FlagRST != 0 && resp&(flow.FlagSYN|flow.FlagACK) == flow.FlagSYN {
			want = [][2][]uint16{{{orig}, nil}, {{resp}, nil}}
		} else {
			want = [][2][]uint16{{{orig}, {resp}}}
		}
		if st.Flow != 2 || len(recs) != len(want) {
			t.Errorf("%s: %d packets in %d flows, want 2 in %d", filepath.Base(file), st.Flow, len(recs), len(want))
			continue
		}
		for i, w := range want {
			if got, exp := countsOf(&recs[i]), expectFlow(w[0], w[1]); got != exp {
				t.Errorf("%s flow %d: counts %+v, want %+v", filepath.Base(file), i, got, exp)
			}
		}
	}
}

// TestEveryPacketInOneFlow checks on real captures that each decoded
// packet is counted in exactly one flow.
func TestEveryPacketInOneFlow(t *testing.T) {
	dir := flowtest.Path(t, "pcaps")
	tests := []string{
		"esnet/nmap_80_all.pcap", "esnet/nmap_80_vanilla.pcap", "esnet/nmap_80_w_service_detection.pcap",
		"esnet/tcp_0_1000_20190821.pcap", "esnet/udp_0_1000_20190821.pcap", "esnet/whois.pcap",
		"esnet/tcp-control/one_way_all_flags.pcap", "esnet/tcp-control/two_way_all_flags.pcap",
		"stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng", "stopddos/amp.UDP.isakmp.pcap",
	}
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			recs, st := collect(t, filepath.Join(dir, name))
			if st.Flow == 0 {
				t.Fatalf("no packet decoded")
			}
			if got := packetsIn(recs); got != st.Flow {
				t.Errorf("flows hold %d packets, %d were decoded", got, st.Flow)
			}
			if st.Malformed != 0 {
				t.Errorf("%d malformed frames in a well-formed capture", st.Malformed)
			}
			ids := map[int64]bool{}
			for _, r := range recs {
				if ids[r.ID] {
					t.Fatalf("duplicate record id %d", r.ID)
				}
				ids[r.ID] = true
			}
		})
	}
}

// TestOneWayFlags: each packet of one_way_all_flags is its own connection
// (distinct ports), so flow i carries exactly that packet's flags.
func TestOneWayFlags(t *testing.T) {
	recs, st := collect(t, flowtest.Path(t, "pcaps", "esnet", "tcp-control", "one_way_all_flags.pcap"))
	if uint64(len(recs)) != st.Flow {
		t.Fatalf("%d flows for %d packets, want one each", len(recs), st.Flow)
	}
	seen := map[flagCounts]bool{}
	for i := range recs {
		seen[countsOf(&recs[i])] = true
	}
	if len(seen) != len(recs) {
		t.Errorf("%d distinct flag combinations among %d single-packet flows, want all distinct", len(seen), len(recs))
	}
}

// frame kinds for the synthetic captures.
var cli, srv = net.IP{192, 168, 1, 10}, net.IP{192, 168, 1, 20}

type synth struct {
	at      time.Duration
	fromSrv bool
	tcp     layers.TCP
	payload int
}

func ipTCP(t *testing.T, s synth) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
	tcp := s.tcp
	tcp.SrcPort, tcp.DstPort = 50000, 443
	if s.fromSrv {
		ip.SrcIP, ip.DstIP = srv, cli
		tcp.SrcPort, tcp.DstPort = 443, 50000
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, &tcp, gopacket.Payload(bytes.Repeat([]byte{'x'}, s.payload)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var eth = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}

func link(kind string, ip []byte) []byte {
	switch kind {
	case "ethernet":
		return append(append(append([]byte{}, eth...), 0x08, 0x00), ip...)
	case "vlan":
		return append(append(append([]byte{}, eth...), 0x81, 0x00, 0x00, 0x2a, 0x08, 0x00), ip...)
	case "qinq":
		return append(append(append([]byte{}, eth...), 0x81, 0x00, 0x00, 0x2a, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00), ip...)
	case "sll":
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], 0x0800)
		return append(h, ip...)
	case "sll2":
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], 0x0800)
		binary.BigEndian.PutUint32(h[4:], 2)
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		return append(h, ip...)
	}
	return ip
}

var linkTypes = map[string]layers.LinkType{
	"ethernet": layers.LinkTypeEthernet, "vlan": layers.LinkTypeEthernet, "qinq": layers.LinkTypeEthernet,
	"sll": layers.LinkTypeLinuxSLL, "sll2": layers.LinkTypeLinuxSLL2, "raw": layers.LinkTypeRaw,
}

// TestSyntheticCaptures writes a small TCP exchange in every supported
// framing, as pcap and pcapng, and checks hand-computed features.
func TestSyntheticCaptures(t *testing.T) {
	exchange := []synth{
		{at: 0, tcp: layers.TCP{SYN: true, Window: 64240, DataOffset: 5}},
		{at: 250 * time.Microsecond, fromSrv: true, tcp: layers.TCP{SYN: true, ACK: true, Window: 65160}},
		{at: 500 * time.Microsecond, tcp: layers.TCP{ACK: true, PSH: true, Window: 502}, payload: 517},
		{at: 2 * time.Millisecond, fromSrv: true, tcp: layers.TCP{ACK: true, PSH: true, Window: 509}, payload: 1400},
		{at: 3 * time.Millisecond, tcp: layers.TCP{FIN: true, ACK: true}},
		{at: 3500 * time.Microsecond, fromSrv: true, tcp: layers.TCP{FIN: true, ACK: true}},
	}
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for kind, lt := range linkTypes {
		for _, ng := range []bool{false, true} {
			name := kind + map[bool]string{false: ".pcap", true: ".pcapng"}[ng]
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				var (
					write func(gopacket.CaptureInfo, []byte) error
					flush = func() error { return nil }
				)
				if ng {
					w, err := pcapgo.NewNgWriter(&buf, lt)
					if err != nil {
						t.Fatal(err)
					}
					write, flush = w.WritePacket, w.Flush
				} else {
					w := pcapgo.NewWriter(&buf)
					if err := w.WriteFileHeader(65535, lt); err != nil {
						t.Fatal(err)
					}
					write = w.WritePacket
				}
				for _, s := range exchange {
					data := link(kind, ipTCP(t, s))
					ci := gopacket.CaptureInfo{Timestamp: start.Add(s.at), CaptureLength: len(data), Length: len(data)}
					if err := write(ci, data); err != nil {
						t.Fatal(err)
					}
				}
				if err := flush(); err != nil {
					t.Fatal(err)
				}
				checkSynthetic(t, buf.Bytes(), start)
			})
		}
	}
}

func checkSynthetic(t *testing.T, capture []byte, start time.Time) {
	t.Helper()
	var out []flow.Record
	ex := flow.NewExtractor(flow.Config{}, func(r *flow.Record, _ flow.EndReason) { out = append(out, *r) })
	st, err := captureRead(capture, ex)
	if err != nil {
		t.Fatal(err)
	}
	ex.Flush()
	if st.Flow != 6 || len(out) != 1 {
		t.Fatalf("%d packets in %d flows, want 6 in 1 (stats %+v)", st.Flow, len(out), st)
	}
	r := out[0]
	want := map[int]float64{
		flow.FlowDuration: 3500, flow.TotalFwdPackets: 3, flow.TotalBwdPackets: 3,
		flow.TotalLenFwd: 517, flow.TotalLenBwd: 1400, flow.FwdPktLenMax: 517, flow.BwdPktLenMax: 1400,
		flow.FwdHeaderLen: 60, flow.BwdHeaderLen: 60, flow.FwdSegSizeMin: 20,
		flow.FwdIATTotal: 3000, flow.FwdIATMax: 2500, flow.FwdIATMin: 500,
		flow.BwdIATTotal: 3250, flow.BwdIATMax: 1750, flow.BwdIATMin: 1500,
		flow.FlowIATMax: 1500, flow.FlowIATMin: 250,
		flow.SYNCount: 2, flow.FINCount: 2, flow.ACKCount: 5, flow.PSHCount: 2, flow.FwdPSHFlags: 1, flow.BwdPSHFlags: 1,
		flow.FwdInitWinBytes: 64240, flow.BwdInitWinBytes: 65160, flow.FwdActDataPkts: 1,
		flow.TotalTCPFlowTime: 3500, flow.ICMPType: -1,
	}
	for i, w := range want {
		if got := r.Values[i]; got != w {
			t.Errorf("%s = %v, want %v", flow.ValueColumns[i].Name, got, w)
		}
	}
	if r.FlowID() != "192.168.1.10-192.168.1.20-50000-443-6" || !r.Start().Equal(start) {
		t.Errorf("flow %s at %v, want 192.168.1.10-192.168.1.20-50000-443-6 at %v", r.FlowID(), r.Start(), start)
	}
}

func captureRead(b []byte, ex *flow.Extractor) (flow.FrameStats, error) {
	return capture.Read(context.Background(), bytes.NewReader(b), ex)
}

func TestReadRejectsNonCaptures(t *testing.T) {
	tests := map[string][]byte{
		"empty":     nil,
		"text":      []byte("id,Flow ID\n1,2\n"),
		"truncated": {0xd4, 0xc3, 0xb2, 0xa1, 2, 0},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			ex := flow.NewExtractor(flow.Config{}, nil)
			if _, err := captureRead(in, ex); err == nil {
				t.Errorf("Read accepted %q", in)
			}
		})
	}
	if _, err := capture.ReadFile(context.Background(), filepath.Join(t.TempDir(), "missing.pcap"), flow.NewExtractor(flow.Config{}, nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want a not-exist error", err)
	}
}

func captureReadFile(path string, ex *flow.Extractor) (flow.FrameStats, error) {
	return capture.ReadFile(context.Background(), path, ex)
}
