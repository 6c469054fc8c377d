package capture_test

import (
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/flowtest"
)

// BenchmarkExtractSynflood measures decoding plus flow accounting on the
// spoofed SYN flood (37,841 packets, almost every one a new flow), frames
// held in memory so that disk speed is not measured. Reports packets/s.
func BenchmarkExtractSynflood(b *testing.B) {
	f, err := os.Open(flowtest.Path(b, "pcaps", "stopddos", "pkt.TCP.synflood.spoofed.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	var ts []int64
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, data)
		ts = append(ts, ci.Timestamp.UnixMicro())
	}
	d, err := flow.NewDecoder(r.LinkType())
	if err != nil {
		b.Fatal(err)
	}
	flows := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ex := flow.NewExtractor(flow.Config{}, func(*flow.Record, flow.EndReason) { flows++ })
		var st flow.FrameStats
		for i, fr := range frames {
			ex.AddFrame(d, fr, ts[i], &st)
		}
		ex.Flush()
	}
	b.ReportMetric(float64(len(frames))*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkReadFileSynflood includes reading the pcap from disk.
func BenchmarkReadFileSynflood(b *testing.B) {
	path := flowtest.Path(b, "pcaps", "stopddos", "pkt.TCP.synflood.spoofed.pcap")
	var pkts uint64
	for range b.N {
		ex := flow.NewExtractor(flow.Config{}, nil)
		st, err := captureReadFile(path, ex)
		if err != nil {
			b.Fatal(err)
		}
		ex.Flush()
		pkts += st.Flow + st.Skipped + st.Malformed
	}
	b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "packets/s")
}
