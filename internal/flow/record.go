package flow

import (
	"net/netip"
	"strconv"
	"time"
)

// UnlabeledLabel is the Label written for extracted flows, as CICFlowMeter
// does; datasets replace it with BENIGN or an attack class.
const UnlabeledLabel = "NeedManualLabel"

// TimestampLayout is the layout of the Timestamp column (UTC, microseconds).
const TimestampLayout = "2006-01-02 15:04:05.000000"

// Record is one bidirectional flow with its identifiers, the statistic
// columns of the corrected CIC-IDS2017 schema and, for dataset rows, the
// label.
type Record struct {
	// ID is the row number ("id" column).
	ID int64
	// SrcIP, SrcPort are the endpoint that sent the flow's first packet.
	SrcIP, DstIP     netip.Addr
	SrcPort, DstPort uint16
	// Protocol is the IP protocol number.
	Protocol uint8
	// StartMicros is the flow's first packet time, microseconds since the
	// Unix epoch.
	StartMicros int64
	// Values holds the statistic columns, indexed by FlowDuration … TotalTCPFlowTime.
	Values [NumValues]float64
	// Label is the class name (BENIGN, an attack, or UnlabeledLabel).
	Label string
	// AttemptedCategory is the corrected dataset's attempted-attack
	// category, -1 when not an attempt.
	AttemptedCategory int
}

// FlowID returns the CICFlowMeter flow identifier
// "SrcIP-DstIP-SrcPort-DstPort-Protocol".
func (r *Record) FlowID() string {
	b := make([]byte, 0, 64)
	return string(r.appendFlowID(b))
}

func (r *Record) appendFlowID(b []byte) []byte {
	b = r.SrcIP.AppendTo(b)
	b = append(b, '-')
	b = r.DstIP.AppendTo(b)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(r.SrcPort), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(r.DstPort), 10)
	b = append(b, '-')
	return strconv.AppendUint(b, uint64(r.Protocol), 10)
}

// Start returns the flow's start time in UTC.
func (r *Record) Start() time.Time { return time.UnixMicro(r.StartMicros).UTC() }

// appendValue formats statistic column i the way the published CSVs do:
// integers without a fraction, other values with at least one decimal.
func appendValue(b []byte, i int, v float64) []byte {
	if ValueColumns[i].Integer && v == float64(int64(v)) {
		return strconv.AppendInt(b, int64(v), 10)
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' || c == 'N' || c == 'I' {
			return b
		}
	}
	return append(b, '.', '0')
}
