package flow

import (
	"time"
)

// Default timeouts of CICFlowMeter.
const (
	DefaultFlowTimeout     = 120 * time.Second
	DefaultActivityTimeout = 5 * time.Second
	// DefaultMaxFlows bounds the flow table (under 1 KiB per flow).
	DefaultMaxFlows = 1 << 18
)

// Config tunes an Extractor. Zero fields take the defaults.
type Config struct {
	// FlowTimeout ends a flow this long after its first packet.
	FlowTimeout time.Duration
	// ActivityTimeout separates active periods from idle ones.
	ActivityTimeout time.Duration
	// MaxFlows bounds the number of open flows; when full, the flow that
	// started first is ended early (reason EndEvicted).
	MaxFlows int
}

func (c Config) withDefaults() Config {
	if c.FlowTimeout <= 0 {
		c.FlowTimeout = DefaultFlowTimeout
	}
	if c.ActivityTimeout <= 0 {
		c.ActivityTimeout = DefaultActivityTimeout
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	return c
}

// EndReason says why a flow was emitted.
type EndReason uint8

// Reasons a flow ends.
const (
	// EndTimeout: the flow timeout elapsed since its first packet.
	EndTimeout EndReason = iota
	// EndTCPReuse: a terminated TCP connection's tuple was reused by a new SYN.
	EndTCPReuse
	// EndEvicted: the flow table was full.
	EndEvicted
	// EndFlush: the input ended (Flush).
	EndFlush
	numEndReasons
)

// String returns the reason's metric label.
func (r EndReason) String() string {
	switch r {
	case EndTimeout:
		return "timeout"
	case EndTCPReuse:
		return "tcp_reuse"
	case EndEvicted:
		return "evicted"
	case EndFlush:
		return "flush"
	}
	return "unknown"
}

// EmitFunc receives each finished flow. The Record is reused after the
// call returns: copy it to keep it.
type EmitFunc func(r *Record, reason EndReason)

type queued struct {
	idx   int32
	gen   uint64
	start int64
}

// Extractor groups packets into bidirectional flows with CICFlowMeter
// semantics, as corrected by Engelen et al.: a flow ends at the flow
// timeout (counted from its first packet), or, for TCP, once its teardown
// is complete (FIN from both sides, or an RST) and a new connection (SYN
// without ACK) reuses the tuple; packets after the teardown and before
// such a reuse stay in the flow. A TCP connection split by the timeout
// keeps its direction, and "Total TCP Flow Time" spans the whole
// connection.
//
// Packets must be added in capture order. The open-flow table is bounded
// by Config.MaxFlows. An Extractor is not safe for concurrent use.
type Extractor struct {
	cfg      Config
	timeout  int64
	activity int64
	emit     EmitFunc

	// Flow states live in fixed-size chunks (allocated once, never copied,
	// nothing for the garbage collector to scan); index maps keys to
	// positions.
	chunks []*[chunkSize]flowState
	used   int32
	index  map[flowKey]int32
	free   []int32
	queue  []queued // flows in order of their start time
	head   int
	gen    uint64
	now    int64
	rec    Record
	pkt    Packet
	next   int64
}

// NewExtractor returns an extractor that passes every finished flow to emit.
func NewExtractor(cfg Config, emit EmitFunc) *Extractor {
	cfg = cfg.withDefaults()
	return &Extractor{
		cfg:      cfg,
		timeout:  cfg.FlowTimeout.Microseconds(),
		activity: cfg.ActivityTimeout.Microseconds(),
		emit:     emit,
		index:    make(map[flowKey]int32),
	}
}

// Len returns the number of open flows.
func (e *Extractor) Len() int { return len(e.index) }

// Add accounts one decoded packet. A packet older than the newest one
// seen is treated as arriving at the newest time (and counted in
// kubeward_flow_packets_total{result="out_of_order"}).
func (e *Extractor) Add(p *Packet) {
	if p.Timestamp < e.now {
		p.Timestamp = e.now
		metricOutOfOrder.Inc()
	}
	e.now = p.Timestamp
	e.expire(e.now)

	ep := endpointsOf(p)
	k := keyOf(p, &ep)
	i, ok := e.index[k]
	if !ok {
		if len(e.index) >= e.cfg.MaxFlows {
			e.evictOldest()
		}
		i = e.alloc()
		e.state(i).begin(k, p, &ep, e.nextGen(), e.activity)
		e.index[k] = i
		e.push(i)
		return
	}
	f := e.state(i)
	switch {
	case f.packets() == 0: // continuation of a timed-out TCP connection
		f.gen = e.nextGen()
		f.first(p, &ep, e.activity)
		e.push(i)
	case p.Timestamp-f.start > e.timeout:
		e.finish(f, EndTimeout)
		if f.proto == ProtoTCP && !f.done {
			f.continueConn(e.nextGen())
			f.first(p, &ep, e.activity)
		} else {
			f.begin(k, p, &ep, e.nextGen(), e.activity)
		}
		e.push(i)
	case f.done && p.Flags&(FlagSYN|FlagACK) == FlagSYN:
		e.finish(f, EndTCPReuse)
		f.begin(k, p, &ep, e.nextGen(), e.activity)
		e.push(i)
	default:
		f.add(p, &ep, e.activity)
	}
}

// Flush emits every open flow, oldest first, and empties the table.
func (e *Extractor) Flush() {
	for _, q := range e.queue[e.head:] {
		f := e.state(q.idx)
		if f.gen != q.gen {
			continue
		}
		if f.packets() > 0 {
			e.finish(f, EndFlush)
		}
		e.release(q.idx)
	}
	e.queue, e.head = e.queue[:0], 0
}

// Advance tells the extractor that capture time has reached t (µs since
// the epoch) without packets, so flows past their timeout are emitted. A
// live capture calls it periodically.
func (e *Extractor) Advance(t int64) {
	if t > e.now {
		e.now = t
	}
	e.expire(e.now)
}

func (e *Extractor) nextGen() uint64 {
	e.gen++
	return e.gen
}

func (e *Extractor) push(i int32) {
	if e.head > 1024 && e.head > len(e.queue)/2 {
		n := copy(e.queue, e.queue[e.head:])
		clear(e.queue[n:])
		e.queue, e.head = e.queue[:n], 0
	}
	f := e.state(i)
	e.queue = append(e.queue, queued{idx: i, gen: f.gen, start: f.start})
}

// expire ends flows whose timeout elapsed by now. Open TCP connections
// stay in the table without packets so that their next packet continues
// them; they are forgotten after another timeout without packets.
func (e *Extractor) expire(now int64) {
	for e.head < len(e.queue) {
		q := e.queue[e.head]
		f := e.state(q.idx)
		if f.gen != q.gen {
			e.head++
			continue
		}
		if now-q.start <= e.timeout {
			return
		}
		e.head++
		if f.packets() == 0 || f.proto != ProtoTCP || f.done {
			if f.packets() > 0 {
				e.finish(f, EndTimeout)
			}
			e.release(q.idx)
			continue
		}
		e.finish(f, EndTimeout)
		f.continueConn(e.nextGen())
		f.start = now
		e.push(q.idx)
	}
}

func (e *Extractor) evictOldest() {
	for e.head < len(e.queue) {
		q := e.queue[e.head]
		e.head++
		f := e.state(q.idx)
		if f.gen != q.gen {
			continue
		}
		if f.packets() > 0 {
			e.finish(f, EndEvicted)
		}
		e.release(q.idx)
		return
	}
}

func (e *Extractor) finish(f *flowState, reason EndReason) {
	e.next++
	e.rec.ID = e.next
	f.record(&e.rec)
	e.rec.Label = UnlabeledLabel
	metricFlows[reason].Inc()
	if e.emit != nil {
		e.emit(&e.rec, reason)
	}
}

func (e *Extractor) alloc() int32 {
	if n := len(e.free); n > 0 {
		i := e.free[n-1]
		e.free = e.free[:n-1]
		return i
	}
	if int(e.used) == len(e.chunks)*chunkSize {
		e.chunks = append(e.chunks, new([chunkSize]flowState))
	}
	e.used++
	return e.used - 1
}

const chunkSize = 1024

func (e *Extractor) state(i int32) *flowState {
	return &e.chunks[i/chunkSize][i%chunkSize]
}

func (e *Extractor) release(i int32) {
	f := e.state(i)
	delete(e.index, f.key)
	f.gen = 0
	e.free = append(e.free, i)
}

// FrameStats counts what AddFrame did with the frames it was given.
type FrameStats struct {
	// Flow frames were accounted to a flow.
	Flow uint64
	// Skipped frames carried no TCP, UDP or ICMP over IP.
	Skipped uint64
	// Malformed frames could not be decoded.
	Malformed uint64
}

// AddFrame decodes one captured frame with d and adds it to the flows.
// Frames without a flow are skipped; malformed frames are counted in st
// and in kubeward_flow_packets_total and otherwise ignored, so one bad
// frame never stops a capture.
func (e *Extractor) AddFrame(d *Decoder, data []byte, tsMicros int64, st *FrameStats) {
	err := d.Decode(data, tsMicros, &e.pkt)
	switch err {
	case nil:
		st.Flow++
		metricPacketsFlow.Inc()
		e.Add(&e.pkt)
	case ErrNotFlowPacket:
		st.Skipped++
		metricPacketsSkipped.Inc()
	default:
		st.Malformed++
		metricPacketsMalformed.Inc()
	}
}

// Merge adds o's counts to s.
func (s *FrameStats) Merge(o FrameStats) {
	s.Flow += o.Flow
	s.Skipped += o.Skipped
	s.Malformed += o.Malformed
}
