package features

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubeward/kubeward/internal/flow/hubble"
	"github.com/kubeward/kubeward/internal/flow/hubble/hubbletest"
)

var (
	t0     = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	client = hubbletest.Endpoint{Namespace: "shop", Pod: "frontend-0", Workload: "frontend", IP: netip.MustParseAddr("10.244.1.10")}
	server = hubbletest.Endpoint{Namespace: "shop", Pod: "cart-0", Workload: "cart", IP: netip.MustParseAddr("10.244.2.10")}
	dns    = hubbletest.Endpoint{Namespace: "kube-system", Pod: "coredns-0", IP: netip.MustParseAddr("10.244.0.2")}
	world  = hubbletest.Endpoint{IP: netip.MustParseAddr("203.0.113.9")}
)

// windows writes flows with gen, decodes them as a reader would and
// returns every window the aggregator closes, keyed by subject.
func windows(t *testing.T, cfg Config, gen func(*hubbletest.Writer)) map[string][]Window {
	t.Helper()
	var buf bytes.Buffer
	w := hubbletest.NewWriter()
	gen(w)
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := hubble.NewReader(&buf)
	a := New(cfg)
	var out []Window
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = a.Add(f, out)
	}
	out = a.Flush(out)
	m := map[string][]Window{}
	for _, w := range out {
		m[w.Subject.String()] = append(m[w.Subject.String()], w)
	}
	return m
}

func TestWindowCounts(t *testing.T) {
	tests := []struct {
		name  string
		gen   func(*hubbletest.Writer)
		check func(t *testing.T, got map[string][]Window)
	}{
		{
			name: "answered, refused, silent and denied SYNs",
			gen: func(g *hubbletest.Writer) {
				g.Connect(t0, client, server, 8080, hubbletest.SYNACK)
				g.Connect(t0.Add(time.Second), client, server, 8081, hubbletest.RST)
				g.Connect(t0.Add(2*time.Second), client, server, 8082, hubbletest.Silent)
				g.Connect(t0.Add(3*time.Second), client, dns, 22, hubbletest.Denied)
			},
			check: func(t *testing.T, got map[string][]Window) {
				w := only(t, got, "shop/frontend-0")
				want := Window{NewConnections: 4, Answered: 2, DistinctPorts: 4, DistinctPeers: 2, Drops: 1}
				if w.NewConnections != want.NewConnections || w.Answered != want.Answered || w.DistinctPorts != want.DistinctPorts || w.DistinctPeers != want.DistinctPeers || w.Drops != want.Drops {
					t.Errorf("got %+v, want counts %+v", w, want)
				}
				if w.TopPeer != server.IP || w.Workload != "Deployment/frontend" || w.IP != client.IP {
					t.Errorf("top peer %v, workload %q, ip %v", w.TopPeer, w.Workload, w.IP)
				}
				if v := w.Values(); v[UnansweredRatio] != 0.5 || v[NewConnRate] != 0.4 || v[DropRate] != 0.1 {
					t.Errorf("values %v", v)
				}
				if len(got) != 1 {
					t.Errorf("replies were charged to the server: %v", keys(got))
				}
			},
		},
		{
			name: "DNS and HTTP answers count against the client",
			gen: func(g *hubbletest.Writer) {
				g.DNS(t0, client, dns, "a.example.", hubble.RcodeNXDomain)
				g.DNS(t0.Add(time.Second), client, dns, "b.example.", 0)
				g.HTTP(t0.Add(2*time.Second), client, server, 8080, 503)
				g.HTTP(t0.Add(3*time.Second), client, server, 8080, 200)
				g.HTTP(t0.Add(4*time.Second), client, server, 8080, 404)
			},
			check: func(t *testing.T, got map[string][]Window) {
				w := only(t, got, "shop/frontend-0")
				if w.DNSResponses != 2 || w.NXDomain != 1 || w.HTTPResponses != 3 || w.HTTP5xx != 1 {
					t.Errorf("got %+v", w)
				}
				if w.NXDomainServer != netip.AddrPortFrom(dns.IP, 53) || w.HTTP5xxServer != netip.AddrPortFrom(server.IP, 8080) {
					t.Errorf("servers %v %v", w.NXDomainServer, w.HTTP5xxServer)
				}
				// One UDP port (53) and one TCP port (8080); the L7 events
				// add no connection.
				if w.DistinctPorts != 2 || w.NewConnections != 3 {
					t.Errorf("ports %d, new connections %d", w.DistinctPorts, w.NewConnections)
				}
			},
		},
		{
			name: "an address outside the cluster is its own subject",
			gen: func(g *hubbletest.Writer) {
				g.Connect(t0, world, server, 443, hubbletest.SYNACK)
			},
			check: func(t *testing.T, got map[string][]Window) {
				w := only(t, got, "203.0.113.9")
				if w.NewConnections != 1 || w.Answered != 1 || w.Pod != "" {
					t.Errorf("got %+v", w)
				}
			},
		},
		{
			name: "windows are tumbling and aligned",
			gen: func(g *hubbletest.Writer) {
				g.Connect(t0.Add(9*time.Second), client, server, 1, hubbletest.RST)
				g.Connect(t0.Add(10*time.Second), client, server, 2, hubbletest.RST)
				g.Connect(t0.Add(35*time.Second), client, server, 3, hubbletest.RST)
			},
			check: func(t *testing.T, got map[string][]Window) {
				ws := got["shop/frontend-0"]
				if len(ws) != 3 {
					t.Fatalf("%d windows, want 3", len(ws))
				}
				for i, start := range []time.Duration{0, 10 * time.Second, 30 * time.Second} {
					if !ws[i].Start.Equal(t0.Add(start)) || ws[i].End.Sub(ws[i].Start) != DefaultWindow || ws[i].NewConnections != 1 {
						t.Errorf("window %d: %v–%v with %d connections", i, ws[i].Start, ws[i].End, ws[i].NewConnections)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, windows(t, Config{}, tt.gen))
		})
	}
}

// TestDuplicateObservation checks that the same packet reported by the
// sending and the receiving node counts once, while a later SYN counts.
func TestDuplicateObservation(t *testing.T) {
	syn := func(at time.Time, dir hubble.TrafficDirection) *hubble.Flow {
		no := false
		return &hubble.Flow{Time: at, Verdict: hubble.VerdictForwarded, Type: hubble.TypeL3L4, IsReply: &no, TrafficDirection: dir,
			IP:     &hubble.IP{Source: client.IP, Destination: server.IP},
			L4:     &hubble.Layer4{TCP: &hubble.TCP{SourcePort: 40000, DestinationPort: 80, Flags: &hubble.TCPFlags{SYN: true}}},
			Source: &hubble.Endpoint{Namespace: "shop", PodName: "frontend-0"}}
	}
	dup0 := testutil.ToFloat64(duplicates)
	a := New(Config{})
	a.Add(syn(t0, hubble.DirectionEgress), nil)
	a.Add(syn(t0.Add(200*time.Microsecond), hubble.DirectionIngress), nil)
	a.Add(syn(t0.Add(3*time.Second), hubble.DirectionEgress), nil)
	out := a.Flush(nil)
	if len(out) != 1 || out[0].NewConnections != 2 {
		t.Fatalf("%d windows (first with %d new connections), want one with 2", len(out), out[0].NewConnections)
	}
	if d := testutil.ToFloat64(duplicates) - dup0; d != 1 {
		t.Errorf("duplicates counted %v, want 1", d)
	}
}

// TestBounds checks the caps: endpoints per window and distinct ports.
func TestBounds(t *testing.T) {
	untracked0 := testutil.ToFloat64(untracked)
	got := windows(t, Config{MaxSubjects: 2, MaxDistinct: 10}, func(g *hubbletest.Writer) {
		for i := range 5 {
			src := client
			src.Pod = "p" + string(rune('a'+i))
			src.IP = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
			g.Connect(t0.Add(time.Duration(i)*time.Millisecond), src, server, 80, hubbletest.Silent)
		}
		for port := range 30 {
			g.Connect(t0.Add(time.Second+time.Duration(port)*time.Millisecond), hubbletest.Endpoint{Namespace: client.Namespace, Pod: "pa", IP: netip.AddrFrom4([4]byte{10, 0, 0, 1})}, server, uint16(1000+port), hubbletest.Silent)
		}
	})
	if len(got) != 2 {
		t.Errorf("%d subjects tracked, want 2: %v", len(got), keys(got))
	}
	if d := testutil.ToFloat64(untracked) - untracked0; d != 3 {
		t.Errorf("untracked flows %v, want 3", d)
	}
	w := only(t, got, "shop/pa")
	if w.DistinctPorts != 10 || !w.Saturated || w.NewConnections != 31 {
		t.Errorf("distinct ports %d saturated %v connections %d", w.DistinctPorts, w.Saturated, w.NewConnections)
	}
}

func only(t *testing.T, got map[string][]Window, key string) Window {
	t.Helper()
	ws := got[key]
	if len(ws) != 1 {
		t.Fatalf("%s: %d windows, want 1 (subjects %v)", key, len(ws), keys(got))
	}
	return ws[0]
}

func keys(m map[string][]Window) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
