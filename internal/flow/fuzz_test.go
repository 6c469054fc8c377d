package flow

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
}

// FuzzDecode feeds arbitrary frames to the decoder and the extractor:
// neither may panic, and decoded packets must be consistent.
func FuzzDecode(f *testing.F) {
	// A TCP SYN over Ethernet and the same over 802.1Q.
	ip := []byte{0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x72, 0x10, 0, 0, 0, 0}
	eth := append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00}, ip...)
	vlan := append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0, 42, 0x08, 0x00}, ip...)
	f.Add(uint8(0), eth)
	f.Add(uint8(0), vlan)
	f.Add(uint8(3), ip)
	f.Add(uint8(1), append(make([]byte, 14), append([]byte{0x08, 0x00}, ip...)...))
	f.Add(uint8(5), []byte{0x60, 0, 0, 0, 0, 8, 17, 64})
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		d, err := NewDecoder(fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)])
		if err != nil {
			t.Fatal(err)
		}
		ex := NewExtractor(Config{MaxFlows: 4}, func(r *Record, _ EndReason) {
			if n := r.Values[TotalFwdPackets] + r.Values[TotalBwdPackets]; n < 1 {
				t.Fatalf("flow with %v packets emitted", n)
			}
		})
		var p Packet
		err = d.Decode(data, 1_000_000, &p)
		if err == nil {
			switch p.Protocol {
			case ProtoTCP:
				if p.HeaderLen < 20 {
					t.Fatalf("TCP header length %d", p.HeaderLen)
				}
			case ProtoUDP, ProtoICMP, ProtoICMPv6:
			default:
				t.Fatalf("decoded protocol %d", p.Protocol)
			}
			if !p.SrcIP.IsValid() || !p.DstIP.IsValid() {
				t.Fatal("decoded packet without addresses")
			}
		}
		var st FrameStats
		ex.AddFrame(d, data, 1_000_000, &st)
		ex.AddFrame(d, data, 2_000_000, &st)
		ex.Flush()
		if st.Flow+st.Skipped+st.Malformed != 2 {
			t.Fatalf("frame stats %+v do not account for 2 frames", st)
		}
	})
}

// FuzzCSVReader parses arbitrary rows under the published header: no
// panic, and a row that parses survives a write/read round trip.
func FuzzCSVReader(f *testing.F) {
	head := strings.Join(Header(), ",") + "\n"
	row := "1,a,10.0.0.1,1,10.0.0.2,2,6,2017-07-06 12:39:06.818901" + strings.Repeat(",0", NumValues) + ",BENIGN,-1\n"
	f.Add(head + row)
	f.Add(head + strings.Replace(row, ",0,", ",NaN,", 1))
	f.Add(head + strings.Replace(row, "BENIGN", `"Web Attack, ""XSS"""`, 1))
	f.Add(head + "1,2\n")
	f.Add("id,Flow ID\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := NewCSVReader(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			return
		}
		for range 8 {
			var rec Record
			err := r.Read(&rec)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				continue
			}
			var b bytes.Buffer
			w, _ := NewWriter(&b, "csv")
			if err := w.Write(&rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			back, err := NewCSVReader(&b, "again.csv")
			if err != nil {
				t.Fatalf("re-reading our own CSV: %v", err)
			}
			var again Record
			if err := back.Read(&again); err != nil {
				t.Fatalf("re-reading our own row %q: %v", b.String(), err)
			}
			if !sameRecord(&rec, &again) {
				t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, again)
			}
		}
	})
}

func sameRecord(a, b *Record) bool {
	for i := range a.Values {
		x, y := a.Values[i], b.Values[i]
		if x != y && !(math.IsNaN(x) && math.IsNaN(y)) {
			return false
		}
	}
	a2, b2 := *a, *b
	a2.Values, b2.Values = [NumValues]float64{}, [NumValues]float64{}
	return a2 == b2
}
