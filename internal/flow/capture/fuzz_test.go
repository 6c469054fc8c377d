package capture_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/capture"
)

// FuzzRead reads arbitrary bytes as a capture file: errors are fine,
// panics are not, and every decoded packet lands in exactly one flow.
func FuzzRead(f *testing.F) {
	frame := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
		0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x13, 0x88, 0, 53, 0, 8, 0, 0}
	var pcap, ng bytes.Buffer
	w := pcapgo.NewWriter(&pcap)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Fatal(err)
	}
	nw, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000+int64(i), 0), CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			f.Fatal(err)
		}
		if err := nw.WritePacket(ci, frame); err != nil {
			f.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		f.Fatal(err)
	}
	f.Add(pcap.Bytes())
	f.Add(ng.Bytes())
	f.Add(pcap.Bytes()[:40])
	f.Fuzz(func(t *testing.T, data []byte) {
		var packets float64
		ex := flow.NewExtractor(flow.Config{MaxFlows: 16}, func(r *flow.Record, _ flow.EndReason) {
			packets += r.Values[flow.TotalFwdPackets] + r.Values[flow.TotalBwdPackets]
		})
		st, _ := capture.Read(context.Background(), bytes.NewReader(data), ex)
		ex.Flush()
		if uint64(packets) != st.Flow {
			t.Fatalf("%v packets in flows, %d decoded", packets, st.Flow)
		}
	})
}
