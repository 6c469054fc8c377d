package flow

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ErrNotFlowPacket is returned by Decoder.Decode for a well-formed packet
// that carries no TCP, UDP or ICMP over IP (ARP, IP fragments after the
// first, unknown protocols). Such packets are skipped, not errors.
var ErrNotFlowPacket = errors.New("packet carries no TCP, UDP or ICMP over IP")

// Decoder turns raw frames of one link type into Packets. It reuses its
// layer structs, so Decode allocates nothing; a Decoder is not safe for
// concurrent use.
type Decoder struct {
	parser  *gopacket.DecodingLayerParser
	parser6 *gopacket.DecodingLayerParser // IPv6 entry point for raw-IP links
	rawIP   bool
	decoded []gopacket.LayerType

	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
	pay   gopacket.Payload
}

// NewDecoder returns a decoder for frames of link type lt. Supported link
// types are Ethernet (with 802.1Q/QinQ tags), Linux cooked capture v1 and
// v2, and raw IPv4/IPv6.
func NewDecoder(lt layers.LinkType) (*Decoder, error) {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	var first gopacket.LayerType
	switch lt {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		first = layers.LayerTypeLinuxSLL2
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	default:
		return nil, fmt.Errorf("link type %v (%d) is not supported: capture on Ethernet, Linux cooked (SLL/SLL2) or raw IP", lt, uint8(lt))
	}
	d.parser = d.newParser(first)
	if lt == layers.LinkTypeRaw {
		d.rawIP = true
		d.parser6 = d.newParser(layers.LayerTypeIPv6)
	}
	return d, nil
}

func (d *Decoder) newParser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := gopacket.NewDecodingLayerParser(first,
		&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.icmp4, &d.icmp6, &d.pay)
	p.IgnoreUnsupported = true
	return p
}

// Decode parses frame data captured at tsMicros (microseconds since the
// epoch) into p. It returns ErrNotFlowPacket for frames without a flow, and
// a descriptive error for malformed frames.
func (d *Decoder) Decode(data []byte, tsMicros int64, p *Packet) error {
	parser := d.parser
	if d.rawIP && len(data) > 0 && data[0]>>4 == 6 {
		// LINKTYPE_RAW carries either IP version.
		parser = d.parser6
	}
	if err := parser.DecodeLayers(data, &d.decoded); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	*p = Packet{Timestamp: tsMicros, ICMPType: -1, ICMPCode: -1}
	var ipPayload int
	haveIP, haveL4 := false, false
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return ErrNotFlowPacket
			}
			p.SrcIP = addr4(d.ip4.SrcIP)
			p.DstIP = addr4(d.ip4.DstIP)
			ipPayload = int(d.ip4.Length) - int(d.ip4.IHL)*4
			haveIP = true
		case layers.LayerTypeIPv6:
			p.SrcIP = addr16(d.ip6.SrcIP)
			p.DstIP = addr16(d.ip6.DstIP)
			ipPayload = int(d.ip6.Length)
			haveIP = true
		case layers.LayerTypeTCP:
			p.Protocol = ProtoTCP
			p.SrcPort, p.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			p.Window = d.tcp.Window
			p.Flags = tcpFlags(&d.tcp)
			hl := int(d.tcp.DataOffset) * 4
			p.HeaderLen = uint16(hl)
			p.PayloadLen = payloadLen(ipPayload, hl, len(d.tcp.Payload))
			haveL4 = true
		case layers.LayerTypeUDP:
			p.Protocol = ProtoUDP
			p.SrcPort, p.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.HeaderLen = 8
			p.PayloadLen = payloadLen(ipPayload, 8, len(d.udp.Payload))
			haveL4 = true
		case layers.LayerTypeICMPv4:
			p.Protocol = ProtoICMP
			p.ICMPType = int16(d.icmp4.TypeCode.Type())
			p.ICMPCode = int16(d.icmp4.TypeCode.Code())
			haveL4 = true
		case layers.LayerTypeICMPv6:
			p.Protocol = ProtoICMPv6
			p.ICMPType = int16(d.icmp6.TypeCode.Type())
			p.ICMPCode = int16(d.icmp6.TypeCode.Code())
			haveL4 = true
		}
	}
	if !haveIP || !haveL4 {
		return ErrNotFlowPacket
	}
	return nil
}

// payloadLen prefers the length the IP header announces (the bytes on the
// wire) and falls back to the captured payload when the IP length is
// implausible (zero for TSO-offloaded frames, or shorter than the header).
func payloadLen(ipPayload, hdr, captured int) uint32 {
	if n := ipPayload - hdr; ipPayload > 0 && n >= 0 {
		return uint32(n)
	}
	return uint32(captured)
}

func tcpFlags(t *layers.TCP) uint16 {
	var f uint16
	if t.FIN {
		f |= FlagFIN
	}
	if t.SYN {
		f |= FlagSYN
	}
	if t.RST {
		f |= FlagRST
	}
	if t.PSH {
		f |= FlagPSH
	}
	if t.ACK {
		f |= FlagACK
	}
	if t.URG {
		f |= FlagURG
	}
	if t.ECE {
		f |= FlagECE
	}
	if t.CWR {
		f |= FlagCWR
	}
	return f
}

func addr4(b []byte) netip.Addr {
	if len(b) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}

func addr16(b []byte) netip.Addr {
	if len(b) != 16 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(b))
}
