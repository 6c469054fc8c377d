package flow

import "math"

// stat accumulates count, sum, extremes, mean and variance in one pass
// (Welford's method), matching the sample statistics (n-1 denominator)
// that CICFlowMeter reports.
type stat struct {
	n             int64
	sum, mean, m2 float64
	min, max      float64
}

func (s *stat) add(x float64) {
	s.n++
	s.sum += x
	if s.n == 1 {
		s.min, s.max = x, x
	} else {
		s.min = math.Min(s.min, x)
		s.max = math.Max(s.max, x)
	}
	d := x - s.mean
	s.mean += d / float64(s.n)
	s.m2 += d * (x - s.mean)
}

func (s *stat) variance() float64 {
	if s.n < 2 {
		return 0
	}
	return s.m2 / float64(s.n-1)
}

func (s *stat) std() float64 { return math.Sqrt(s.variance()) }

// bulk tracks CICFlowMeter's bulk-transfer heuristic for one direction: a
// bulk is at least four payload-carrying packets in a row, less than one
// second apart, not interrupted by a bulk in the other direction.
type bulk struct {
	open                    bool // a candidate bulk is being tracked
	startHelper, lastTS     int64
	pktHelper, sizeHelper   int64
	states, pkts, size, dur int64
}

func (b *bulk) update(ts int64, size int64, lastBulkOther int64) {
	if b.open && lastBulkOther > b.startHelper {
		b.open = false
	}
	if size <= 0 {
		return
	}
	if !b.open || ts-b.lastTS > 1_000_000 {
		b.open = true
		b.startHelper, b.lastTS = ts, ts
		b.pktHelper, b.sizeHelper = 1, size
		return
	}
	b.pktHelper++
	b.sizeHelper += size
	switch {
	case b.pktHelper == 4:
		b.states++
		b.pkts += b.pktHelper
		b.size += b.sizeHelper
		b.dur += ts - b.startHelper
	case b.pktHelper > 4:
		b.pkts++
		b.size += size
		b.dur += ts - b.lastTS
	}
	b.lastTS = ts
}

func (b *bulk) bytesPerBulk() float64 {
	if b.states == 0 {
		return 0
	}
	return math.Floor(float64(b.size) / float64(b.states))
}

func (b *bulk) packetsPerBulk() float64 {
	if b.states == 0 {
		return 0
	}
	return math.Floor(float64(b.pkts) / float64(b.states))
}

func (b *bulk) rate() float64 {
	if b.dur == 0 {
		return 0
	}
	return math.Floor(float64(b.size) / (float64(b.dur) / 1e6))
}
