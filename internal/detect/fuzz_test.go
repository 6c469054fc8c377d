package detect_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

// FuzzReplay feeds arbitrary streams through the splitter, the shape
// classifier, every decoder and all upstream and Tetragon rules.
func FuzzReplay(f *testing.F) {
	f.Add([]byte(`{"auditID":"a","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods"},"requestObject":{"spec":{"containers":[{"image":"x","securityContext":{"privileged":true}}]}}}` + "\n"))
	f.Add([]byte(`[{"process_exec":{"process":{"binary":"/usr/bin/nsenter","arguments":"-t 1 x","pod":{"name":"p"}}}},{"rule":"r","priority":"Critical","output":"o"}]`))
	f.Add([]byte(`{"kind":"EventList","items":[{"auditID":"a"},1,null]} {"x":1}`))
	e := newEngine(f, upstreamRules(f), tetragon.DefaultRules())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = detect.Replay(context.Background(), e, bytes.NewReader(data), detect.AutoSource)
	})
}
