package flow

import "net/netip"

// TCP flag bits as they appear in Packet.Flags.
const (
	FlagFIN uint16 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// IP protocol numbers the extractor builds flows for.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// Packet is the flow-relevant summary of one decoded packet. The decoder
// fills it in place so that decoding allocates nothing.
type Packet struct {
	// Timestamp is the capture time in microseconds since the Unix epoch.
	Timestamp int64
	// SrcIP and DstIP are the network-layer addresses (IPv4 addresses are
	// stored unmapped, as 4-byte addresses).
	SrcIP, DstIP netip.Addr
	// SrcPort and DstPort are zero for ICMP.
	SrcPort, DstPort uint16
	// Protocol is the IP protocol number (ProtoTCP, ProtoUDP, ProtoICMP…).
	Protocol uint8
	// Flags holds the TCP flags (FlagFIN…); zero for other protocols.
	Flags uint16
	// Window is the TCP window field; zero for other protocols.
	Window uint16
	// HeaderLen is the transport header length in bytes (TCP data offset,
	// 8 for UDP, 0 for ICMP as in the corrected CICFlowMeter).
	HeaderLen uint16
	// PayloadLen is the transport payload length in bytes, taken from the
	// IP length fields so that truncated captures count the bytes on the
	// wire.
	PayloadLen uint32
	// ICMPType and ICMPCode are -1 for non-ICMP packets.
	ICMPType, ICMPCode int16
}
