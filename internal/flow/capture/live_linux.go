//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/kubeward/kubeward/internal/flow"
)

// Live captures Ethernet frames on interface iface with an AF_PACKET
// socket (no cgo; needs CAP_NET_RAW) and adds them to ex until ctx is
// cancelled, then flushes ex. Flows past their timeout are emitted as
// packets arrive.
func Live(ctx context.Context, iface string, ex *flow.Extractor) (flow.FrameStats, error) {
	var st flow.FrameStats
	h, err := pcapgo.NewEthernetHandle(iface)
	if err != nil {
		return st, fmt.Errorf("open AF_PACKET socket on %q: %w (live capture needs CAP_NET_RAW and an existing interface)", iface, err)
	}
	// The socket is only read from: a Close error cannot lose data.
	if err := dropLoopbackEchoes(h, iface); err != nil {
		_ = h.Close()
		return st, err
	}
	d, err := flow.NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		_ = h.Close()
		return st, err
	}
	var closeOnce sync.Once
	closeHandle := func() { closeOnce.Do(func() { _ = h.Close() }) }
	defer closeHandle()
	stop := context.AfterFunc(ctx, closeHandle) // unblocks the read
	defer stop()
	for {
		data, ci, err := h.ZeroCopyReadPacketData()
		if err != nil {
			ex.Flush()
			if ctx.Err() != nil {
				return st, nil
			}
			if errors.Is(err, context.Canceled) {
				return st, nil
			}
			return st, fmt.Errorf("read from %q: %w", iface, err)
		}
		ex.AddFrame(d, data, ci.Timestamp.UnixMicro(), &st)
	}
}

// dropLoopbackEchoes installs a socket filter on loopback interfaces that
// drops the outgoing copy of each packet: AF_PACKET sees every loopback
// packet twice (sent and received), which would double the counts.
func dropLoopbackEchoes(h *pcapgo.EthernetHandle, iface string) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", iface, err)
	}
	if ifi.Flags&net.FlagLoopback == 0 {
		return nil
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return fmt.Errorf("assemble loopback filter: %w", err)
	}
	if err := h.SetBPF(prog); err != nil {
		return fmt.Errorf("set loopback filter on %q: %w", iface, err)
	}
	return nil
}
