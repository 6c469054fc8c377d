package features

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/flow/hubble"
)

// FuzzAccount feeds whatever flows the decoder accepts from arbitrary
// input into an aggregator with small bounds: it must not panic, must
// respect the bounds, and every window must lie within its bounds.
func FuzzAccount(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "export.jsonl")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"flow":{"time":"2024-01-02T03:04:05Z","is_reply":true,"l7":{"type":"RESPONSE","http":{"code":599}},"destination":{"pod_name":"p"}}}` + "\n" +
		`{"flow":{"time":"2024-01-02T03:04:25Z","IP":{"source":"::1","destination":"::2"},"l4":{"SCTP":{"destination_port":9}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := New(Config{Window: time.Second, MaxSubjects: 3, MaxDistinct: 4, MaxDedup: 8})
		var out []Window
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fl, err := hubble.Parse(sc.Bytes())
			if err != nil {
				continue
			}
			n := len(out)
			out = a.Add(fl, out)
			if len(out)-n > 3 {
				t.Fatalf("%d windows closed at once, bound 3", len(out)-n)
			}
		}
		out = a.Flush(out)
		for _, w := range out {
			if w.DistinctPorts > 4 || w.DistinctPeers > 4 || w.Answered > w.NewConnections || !w.End.After(w.Start) {
				t.Fatalf("window out of bounds: %+v", w)
			}
			for _, v := range w.Values() {
				if v < 0 || v != v {
					t.Fatalf("feature value %v in %+v", v, w)
				}
			}
		}
	})
}
