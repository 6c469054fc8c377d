// Package capture feeds packets from pcap/pcapng files and live AF_PACKET
// sockets into a flow.Extractor. Everything here is pure Go (gopacket's
// layers and pcapgo, no libpcap).
package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/kubeward/kubeward/internal/flow"
)

// Magic numbers at the start of capture files.
var (
	pcapMagics = [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // microsecond
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // nanosecond
	}
	pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// ReadFile reads the pcap or pcapng file at path into ex. It does not
// flush ex, so several files can form one capture.
func ReadFile(ctx context.Context, path string, ex *flow.Extractor) (flow.FrameStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return flow.FrameStats{}, fmt.Errorf("open capture: %w", err)
	}
	defer func() { _ = f.Close() }()
	st, err := Read(ctx, f, ex)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// zeroCopyReader is what pcapgo's file readers have in common.
type zeroCopyReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Read reads a pcap or pcapng stream (detected by its magic number) into
// ex. Malformed frames are counted and skipped; a corrupt file structure
// ends the read with an error after the frames before it were added.
func Read(ctx context.Context, r io.Reader, ex *flow.Extractor) (flow.FrameStats, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return flow.FrameStats{}, fmt.Errorf("read capture header: %w: the input is not a pcap or pcapng file", err)
	}
	var (
		src     zeroCopyReader
		decoder func(ci gopacket.CaptureInfo) (*flow.Decoder, error)
	)
	switch {
	case string(magic) == string(pcapngMagic):
		var ng *pcapgo.NgReader
		err := guard(func() (err error) {
			ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{})
			return err
		})
		if err != nil {
			return flow.FrameStats{}, fmt.Errorf("read pcapng header: %w", err)
		}
		decs := map[int]*flow.Decoder{}
		decoder = func(ci gopacket.CaptureInfo) (*flow.Decoder, error) {
			if d, ok := decs[ci.InterfaceIndex]; ok {
				return d, nil
			}
			iface, err := ng.Interface(ci.InterfaceIndex)
			if err != nil {
				return nil, fmt.Errorf("pcapng packet names interface %d: %w", ci.InterfaceIndex, err)
			}
			d, err := flow.NewDecoder(iface.LinkType)
			if err != nil {
				return nil, err
			}
			decs[ci.InterfaceIndex] = d
			return d, nil
		}
		src = ng
	case isPcap(magic):
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return flow.FrameStats{}, fmt.Errorf("read pcap header: %w", err)
		}
		d, err := flow.NewDecoder(pr.LinkType())
		if err != nil {
			return flow.FrameStats{}, err
		}
		decoder = func(gopacket.CaptureInfo) (*flow.Decoder, error) { return d, nil }
		src = pr
	default:
		return flow.FrameStats{}, fmt.Errorf("unknown capture format (magic % x): expected pcap or pcapng", magic)
	}
	return readLoop(ctx, src, decoder, ex)
}

func isPcap(magic []byte) bool {
	for _, m := range pcapMagics {
		if string(magic) == string(m) {
			return true
		}
	}
	return false
}

func readLoop(ctx context.Context, src zeroCopyReader, decoder func(gopacket.CaptureInfo) (*flow.Decoder, error), ex *flow.Extractor) (flow.FrameStats, error) {
	var st flow.FrameStats
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		var (
			data []byte
			ci   gopacket.CaptureInfo
		)
		err := guard(func() (err error) {
			data, ci, err = src.ZeroCopyReadPacketData()
			return err
		})
		if err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, fmt.Errorf("read packet %d: %w", n+1, err)
		}
		d, err := decoder(ci)
		if err != nil {
			return st, err
		}
		ex.AddFrame(d, data, ci.Timestamp.UnixMicro(), &st)
	}
}

// errReaderPanic reports a capture the pcap/pcapng reader crashed on.
var errReaderPanic = errors.New("capture reader failed on malformed input")

// guard runs a gopacket reader call and turns a panic into an error:
// pcapgo's pcapng reader panics on some malformed blocks (for instance
// an interface timestamp resolution of 2^-64 divides by zero), and a
// hostile capture file must not crash the process.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			metricReaderPanics.Inc()
			err = fmt.Errorf("%w: %v", errReaderPanic, r)
		}
	}()
	return f()
}
