package flow

import (
	"bytes"
	"math"
	"net/netip"
)

// flowKey identifies a bidirectional flow regardless of direction: the
// endpoints are stored in a canonical order. It holds no pointers, so the
// flow index costs the garbage collector nothing.
type flowKey struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
}

// endpoints are a packet's addresses in 16-byte form.
type endpoints struct {
	src, dst [16]byte
}

func endpointsOf(p *Packet) endpoints {
	return endpoints{p.SrcIP.As16(), p.DstIP.As16()}
}

func keyOf(p *Packet, e *endpoints) flowKey {
	c := bytes.Compare(e.src[:], e.dst[:])
	if c < 0 || (c == 0 && p.SrcPort <= p.DstPort) {
		return flowKey{e.src, e.dst, p.SrcPort, p.DstPort, p.Protocol}
	}
	return flowKey{e.dst, e.src, p.DstPort, p.SrcPort, p.Protocol}
}

// flowState accumulates the statistics of one flow. The forward direction
// is the one of the flow's first packet (kept across timeout splits of one
// TCP connection, as CICFlowMeter does).
type flowState struct {
	key flowKey
	gen uint64 // changes whenever the state starts a new flow

	src, dst     [16]byte
	v4           bool
	sport, dport uint16
	proto        uint8

	start, last, connStart int64
	lastFwd, lastBwd       int64

	fwdLen, bwdLen, allLen  stat
	flowIAT, fwdIAT, bwdIAT stat
	active, idle            stat
	startActive, endActive  int64
	fwdBulk, bwdBulk        bulk

	fwdPSH, bwdPSH, fwdURG, bwdURG, fwdRST, bwdRST int64
	fin, syn, rst, psh, ack, urg, cwr, ece         int64
	fwdHdr, bwdHdr                                 int64
	fwdSegMin                                      int64
	fwdActData                                     int64
	fwdInitWin, bwdInitWin                         int64

	icmpType, icmpCode int16

	// TCP teardown state: a FIN seen in each direction, or an RST, makes
	// the flow ready for termination; it then ends when a new connection
	// (SYN without ACK) reuses the tuple, or at the flow timeout.
	finFwd, finBwd, done bool
}

func (f *flowState) packets() int64 { return f.fwdLen.n + f.bwdLen.n }

// begin starts a new flow with p as its first (forward) packet.
func (f *flowState) begin(k flowKey, p *Packet, e *endpoints, gen uint64, activity int64) {
	*f = flowState{key: k, gen: gen}
	f.src, f.dst, f.v4 = e.src, e.dst, p.SrcIP.Is4()
	f.sport, f.dport, f.proto = p.SrcPort, p.DstPort, p.Protocol
	f.connStart = p.Timestamp
	f.first(p, e, activity)
}

// continueConn restarts the statistics of a TCP connection whose flow was
// split by the flow timeout: direction and connection start are kept.
func (f *flowState) continueConn(gen uint64) {
	*f = flowState{
		key: f.key, gen: gen,
		src: f.src, dst: f.dst, v4: f.v4, sport: f.sport, dport: f.dport, proto: f.proto,
		connStart: f.connStart,
	}
}

// first records the first packet of a flow (fresh or continued).
func (f *flowState) first(p *Packet, e *endpoints, activity int64) {
	f.start, f.last = p.Timestamp, p.Timestamp
	f.startActive, f.endActive = p.Timestamp, p.Timestamp
	f.icmpType, f.icmpCode = p.ICMPType, p.ICMPCode
	f.add(p, e, activity)
}

// add accounts packet p to the flow; activity is the activity timeout in
// microseconds.
func (f *flowState) add(p *Packet, e *endpoints, activity int64) {
	ts := p.Timestamp
	n := f.packets()
	fwd := p.SrcPort == f.sport && e.src == f.src
	size := float64(p.PayloadLen)
	if n > 0 {
		f.flowIAT.add(float64(ts - f.last))
		// Activity: a gap longer than the activity timeout closes an
		// active period and records the idle time.
		if ts-f.endActive > activity {
			if d := f.endActive - f.startActive; d > 0 {
				f.active.add(float64(d))
			}
			f.idle.add(float64(ts - f.endActive))
			f.startActive = ts
		}
		f.endActive = ts
	}
	f.last = ts
	f.allLen.add(size)
	fl := p.Flags
	if fwd {
		if f.fwdLen.n > 0 {
			f.fwdIAT.add(float64(ts - f.lastFwd))
		}
		f.lastFwd = ts
		if f.fwdLen.n == 0 {
			f.fwdSegMin = int64(p.HeaderLen)
			f.fwdInitWin = int64(p.Window)
		} else if h := int64(p.HeaderLen); h < f.fwdSegMin {
			f.fwdSegMin = h
		}
		f.fwdLen.add(size)
		f.fwdHdr += int64(p.HeaderLen)
		if p.PayloadLen > 0 {
			f.fwdActData++
		}
		f.fwdPSH += bit(fl, FlagPSH)
		f.fwdURG += bit(fl, FlagURG)
		f.fwdRST += bit(fl, FlagRST)
		f.fwdBulk.update(ts, int64(p.PayloadLen), f.bwdBulk.lastTS)
		if fl&FlagFIN != 0 {
			f.finFwd = true
		}
	} else {
		if f.bwdLen.n > 0 {
			f.bwdIAT.add(float64(ts - f.lastBwd))
		} else {
			f.bwdInitWin = int64(p.Window)
		}
		f.lastBwd = ts
		f.bwdLen.add(size)
		f.bwdHdr += int64(p.HeaderLen)
		f.bwdPSH += bit(fl, FlagPSH)
		f.bwdURG += bit(fl, FlagURG)
		f.bwdRST += bit(fl, FlagRST)
		f.bwdBulk.update(ts, int64(p.PayloadLen), f.fwdBulk.lastTS)
		if fl&FlagFIN != 0 {
			f.finBwd = true
		}
	}
	f.fin += bit(fl, FlagFIN)
	f.syn += bit(fl, FlagSYN)
	f.rst += bit(fl, FlagRST)
	f.psh += bit(fl, FlagPSH)
	f.ack += bit(fl, FlagACK)
	f.urg += bit(fl, FlagURG)
	f.cwr += bit(fl, FlagCWR)
	f.ece += bit(fl, FlagECE)
	if f.proto == ProtoTCP && (fl&FlagRST != 0 || (f.finFwd && f.finBwd)) {
		f.done = true
	}
}

func bit(flags, mask uint16) int64 {
	if flags&mask != 0 {
		return 1
	}
	return 0
}

// record writes the flow's features into r.
func (f *flowState) record(r *Record) {
	r.SrcIP, r.DstIP = addrOf(f.src, f.v4), addrOf(f.dst, f.v4)
	r.SrcPort, r.DstPort = f.sport, f.dport
	r.Protocol = f.proto
	r.StartMicros = f.start
	r.AttemptedCategory = -1
	v := &r.Values
	dur := float64(f.last - f.start)
	secs := dur / 1e6
	nf, nb := float64(f.fwdLen.n), float64(f.bwdLen.n)
	n := nf + nb
	v[FlowDuration] = dur
	v[TotalFwdPackets] = nf
	v[TotalBwdPackets] = nb
	v[TotalLenFwd] = f.fwdLen.sum
	v[TotalLenBwd] = f.bwdLen.sum
	v[FwdPktLenMax], v[FwdPktLenMin], v[FwdPktLenMean], v[FwdPktLenStd] = f.fwdLen.max, f.fwdLen.min, f.fwdLen.mean, f.fwdLen.std()
	v[BwdPktLenMax], v[BwdPktLenMin], v[BwdPktLenMean], v[BwdPktLenStd] = f.bwdLen.max, f.bwdLen.min, f.bwdLen.mean, f.bwdLen.std()
	v[FlowBytesPerSec] = rate(f.allLen.sum, secs)
	v[FlowPacketsPerSec] = rate(n, secs)
	v[FlowIATMean], v[FlowIATStd], v[FlowIATMax], v[FlowIATMin] = f.flowIAT.mean, f.flowIAT.std(), f.flowIAT.max, f.flowIAT.min
	v[FwdIATTotal], v[FwdIATMean], v[FwdIATStd], v[FwdIATMax], v[FwdIATMin] = f.fwdIAT.sum, f.fwdIAT.mean, f.fwdIAT.std(), f.fwdIAT.max, f.fwdIAT.min
	v[BwdIATTotal], v[BwdIATMean], v[BwdIATStd], v[BwdIATMax], v[BwdIATMin] = f.bwdIAT.sum, f.bwdIAT.mean, f.bwdIAT.std(), f.bwdIAT.max, f.bwdIAT.min
	v[FwdPSHFlags], v[BwdPSHFlags] = float64(f.fwdPSH), float64(f.bwdPSH)
	v[FwdURGFlags], v[BwdURGFlags] = float64(f.fwdURG), float64(f.bwdURG)
	v[FwdRSTFlags], v[BwdRSTFlags] = float64(f.fwdRST), float64(f.bwdRST)
	v[FwdHeaderLen], v[BwdHeaderLen] = float64(f.fwdHdr), float64(f.bwdHdr)
	v[FwdPacketsPerSec], v[BwdPacketsPerSec] = rate(nf, secs), rate(nb, secs)
	v[PktLenMin], v[PktLenMax], v[PktLenMean] = f.allLen.min, f.allLen.max, f.allLen.mean
	v[PktLenStd], v[PktLenVariance] = f.allLen.std(), f.allLen.variance()
	v[FINCount], v[SYNCount], v[RSTCount], v[PSHCount] = float64(f.fin), float64(f.syn), float64(f.rst), float64(f.psh)
	v[ACKCount], v[URGCount], v[CWRCount], v[ECECount] = float64(f.ack), float64(f.urg), float64(f.cwr), float64(f.ece)
	v[DownUpRatio] = 0
	if nf > 0 {
		v[DownUpRatio] = nb / nf
	}
	v[AvgPacketSize] = 0
	if n > 0 {
		v[AvgPacketSize] = f.allLen.sum / n
	}
	v[FwdSegSizeAvg], v[BwdSegSizeAvg] = f.fwdLen.mean, f.bwdLen.mean
	v[FwdBytesPerBulk], v[FwdPacketsPerBulk], v[FwdBulkRate] = f.fwdBulk.bytesPerBulk(), f.fwdBulk.packetsPerBulk(), f.fwdBulk.rate()
	v[BwdBytesPerBulk], v[BwdPacketsPerBulk], v[BwdBulkRate] = f.bwdBulk.bytesPerBulk(), f.bwdBulk.packetsPerBulk(), f.bwdBulk.rate()
	// The corrected CICFlowMeter divides by the flow's packet count here
	// (its subflow counter advances once per packet); the published
	// dataset satisfies Subflow = floor(total / packets) on every row, so
	// the same definition keeps one schema for training and extraction.
	v[SubflowFwdPackets], v[SubflowFwdBytes] = floorDiv(nf, n), floorDiv(f.fwdLen.sum, n)
	v[SubflowBwdPackets], v[SubflowBwdBytes] = floorDiv(nb, n), floorDiv(f.bwdLen.sum, n)
	v[FwdInitWinBytes], v[BwdInitWinBytes] = float64(f.fwdInitWin), float64(f.bwdInitWin)
	v[FwdActDataPkts], v[FwdSegSizeMin] = float64(f.fwdActData), float64(f.fwdSegMin)
	v[ActiveMean], v[ActiveStd], v[ActiveMax], v[ActiveMin] = f.active.mean, f.active.std(), f.active.max, f.active.min
	v[IdleMean], v[IdleStd], v[IdleMax], v[IdleMin] = f.idle.mean, f.idle.std(), f.idle.max, f.idle.min
	v[ICMPCode], v[ICMPType] = float64(f.icmpCode), float64(f.icmpType)
	v[TotalTCPFlowTime] = 0
	if f.proto == ProtoTCP {
		v[TotalTCPFlowTime] = float64(f.last - f.connStart)
	}
}

func rate(x, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return x / secs
}

func floorDiv(x, n float64) float64 {
	if n <= 0 {
		return 0
	}
	return math.Floor(x / n)
}

func addrOf(b [16]byte, v4 bool) netip.Addr {
	a := netip.AddrFrom16(b)
	if v4 {
		return a.Unmap()
	}
	return a
}
