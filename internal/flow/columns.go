package flow

// Column describes one statistic column of a flow record.
type Column struct {
	// Name is the exact CSV header name used by the corrected CIC-IDS2017
	// release (Engelen et al.).
	Name string
	// Integer reports whether the value is written without a fraction.
	Integer bool
}

// Indices into Record.Values, in CSV column order.
const (
	FlowDuration = iota
	TotalFwdPackets
	TotalBwdPackets
	TotalLenFwd
	TotalLenBwd
	FwdPktLenMax
	FwdPktLenMin
	FwdPktLenMean
	FwdPktLenStd
	BwdPktLenMax
	BwdPktLenMin
	BwdPktLenMean
	BwdPktLenStd
	FlowBytesPerSec
	FlowPacketsPerSec
	FlowIATMean
	FlowIATStd
	FlowIATMax
	FlowIATMin
	FwdIATTotal
	FwdIATMean
	FwdIATStd
	FwdIATMax
	FwdIATMin
	BwdIATTotal
	BwdIATMean
	BwdIATStd
	BwdIATMax
	BwdIATMin
	FwdPSHFlags
	BwdPSHFlags
	FwdURGFlags
	BwdURGFlags
	FwdRSTFlags
	BwdRSTFlags
	FwdHeaderLen
	BwdHeaderLen
	FwdPacketsPerSec
	BwdPacketsPerSec
	PktLenMin
	PktLenMax
	PktLenMean
	PktLenStd
	PktLenVariance
	FINCount
	SYNCount
	RSTCount
	PSHCount
	ACKCount
	URGCount
	CWRCount
	ECECount
	DownUpRatio
	AvgPacketSize
	FwdSegSizeAvg
	BwdSegSizeAvg
	FwdBytesPerBulk
	FwdPacketsPerBulk
	FwdBulkRate
	BwdBytesPerBulk
	BwdPacketsPerBulk
	BwdBulkRate
	SubflowFwdPackets
	SubflowFwdBytes
	SubflowBwdPackets
	SubflowBwdBytes
	FwdInitWinBytes
	BwdInitWinBytes
	FwdActDataPkts
	FwdSegSizeMin
	ActiveMean
	ActiveStd
	ActiveMax
	ActiveMin
	IdleMean
	IdleStd
	IdleMax
	IdleMin
	ICMPCode
	ICMPType
	TotalTCPFlowTime

	// NumValues is the number of statistic columns in Record.Values.
	NumValues
)

// Identifier and label column names of the corrected CIC-IDS2017 CSVs.
const (
	ColID                = "id"
	ColFlowID            = "Flow ID"
	ColSrcIP             = "Src IP"
	ColSrcPort           = "Src Port"
	ColDstIP             = "Dst IP"
	ColDstPort           = "Dst Port"
	ColProtocol          = "Protocol"
	ColTimestamp         = "Timestamp"
	ColLabel             = "Label"
	ColAttemptedCategory = "Attempted Category"
)

// ValueColumns lists the statistic columns, indexed by the constants above.
var ValueColumns = [NumValues]Column{
	{"Flow Duration", true},
	{"Total Fwd Packet", true},
	{"Total Bwd packets", true},
	{"Total Length of Fwd Packet", true},
	{"Total Length of Bwd Packet", true},
	{"Fwd Packet Length Max", true},
	{"Fwd Packet Length Min", true},
	{"Fwd Packet Length Mean", false},
	{"Fwd Packet Length Std", false},
	{"Bwd Packet Length Max", true},
	{"Bwd Packet Length Min", true},
	{"Bwd Packet Length Mean", false},
	{"Bwd Packet Length Std", false},
	{"Flow Bytes/s", false},
	{"Flow Packets/s", false},
	{"Flow IAT Mean", false},
	{"Flow IAT Std", false},
	{"Flow IAT Max", true},
	{"Flow IAT Min", true},
	{"Fwd IAT Total", true},
	{"Fwd IAT Mean", false},
	{"Fwd IAT Std", false},
	{"Fwd IAT Max", true},
	{"Fwd IAT Min", true},
	{"Bwd IAT Total", true},
	{"Bwd IAT Mean", false},
	{"Bwd IAT Std", false},
	{"Bwd IAT Max", true},
	{"Bwd IAT Min", true},
	{"Fwd PSH Flags", true},
	{"Bwd PSH Flags", true},
	{"Fwd URG Flags", true},
	{"Bwd URG Flags", true},
	{"Fwd RST Flags", true},
	{"Bwd RST Flags", true},
	{"Fwd Header Length", true},
	{"Bwd Header Length", true},
	{"Fwd Packets/s", false},
	{"Bwd Packets/s", false},
	{"Packet Length Min", true},
	{"Packet Length Max", true},
	{"Packet Length Mean", false},
	{"Packet Length Std", false},
	{"Packet Length Variance", false},
	{"FIN Flag Count", true},
	{"SYN Flag Count", true},
	{"RST Flag Count", true},
	{"PSH Flag Count", true},
	{"ACK Flag Count", true},
	{"URG Flag Count", true},
	{"CWR Flag Count", true},
	{"ECE Flag Count", true},
	{"Down/Up Ratio", false},
	{"Average Packet Size", false},
	{"Fwd Segment Size Avg", false},
	{"Bwd Segment Size Avg", false},
	{"Fwd Bytes/Bulk Avg", true},
	{"Fwd Packet/Bulk Avg", true},
	{"Fwd Bulk Rate Avg", true},
	{"Bwd Bytes/Bulk Avg", true},
	{"Bwd Packet/Bulk Avg", true},
	{"Bwd Bulk Rate Avg", true},
	{"Subflow Fwd Packets", true},
	{"Subflow Fwd Bytes", true},
	{"Subflow Bwd Packets", true},
	{"Subflow Bwd Bytes", true},
	{"FWD Init Win Bytes", true},
	{"Bwd Init Win Bytes", true},
	{"Fwd Act Data Pkts", true},
	{"Fwd Seg Size Min", true},
	{"Active Mean", false},
	{"Active Std", false},
	{"Active Max", true},
	{"Active Min", true},
	{"Idle Mean", false},
	{"Idle Std", false},
	{"Idle Max", true},
	{"Idle Min", true},
	{"ICMP Code", true},
	{"ICMP Type", true},
	{"Total TCP Flow Time", true},
}

// Header returns the full CSV header: identifiers, statistics, label and
// attempted category, exactly as in the corrected CIC-IDS2017 CSVs.
func Header() []string {
	h := make([]string, 0, NumValues+10)
	h = append(h, ColID, ColFlowID, ColSrcIP, ColSrcPort, ColDstIP, ColDstPort, ColProtocol, ColTimestamp)
	for _, c := range ValueColumns {
		h = append(h, c.Name)
	}
	return append(h, ColLabel, ColAttemptedCategory)
}

var valueIndex = func() map[string]int {
	m := make(map[string]int, NumValues)
	for i, c := range ValueColumns {
		m[c.Name] = i
	}
	return m
}()

// ValueIndex returns the index in Record.Values of the statistic column
// named name, and false if no statistic column has that name.
func ValueIndex(name string) (int, bool) {
	i, ok := valueIndex[name]
	return i, ok
}
