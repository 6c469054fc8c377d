package detect_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
)

func jsonCompact(buf *bytes.Buffer, b []byte) error { return json.Compact(buf, b) }

// BenchmarkUpstreamRules measures events per second on one core through
// all 48 upstream k8saudit rules: each event's JSON is parsed once and
// evaluated against every rule, the same way the webhook and the tailer
// do it. The events are the RequestResponse-level events of
// testdata/audit (pod creations with full pod specs, RBAC objects,
// secrets, benign reads), cycled.
//
// "mixed" cycles all events (10 of 14 raise detections, so it includes
// building detections and their outputs); "benign" only the events that
// raise none, the common case of a real audit stream. Besides wall time,
// the benchmark reports cpu-ns/op and events/cpu-s measured with
// getrusage, which stay meaningful on a shared, busy machine.
func BenchmarkUpstreamRules(b *testing.B) {
	b.Run("mixed", func(b *testing.B) { benchRules(b, "testdata/audit/*.json") })
	b.Run("benign", func(b *testing.B) { benchRules(b, "testdata/audit/benign_*.json") })
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRules(b *testing.B, glob string) {
	e := newEngine(b, upstreamRules(b))
	files, _ := filepath.Glob(glob)
	var lines [][]byte
	size := 0
	for _, f := range files {
		var buf bytes.Buffer
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := jsonCompact(&buf, raw); err != nil {
			b.Fatal(err)
		}
		lines = append(lines, buf.Bytes())
		size += buf.Len()
	}
	var d event.Decoder
	var dets []detect.Detection
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		line := lines[i%len(lines)]
		i++
		v, err := d.Parse(line)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := k8saudit.FromValue(v, line)
		if err != nil {
			b.Fatal(err)
		}
		dets = e.Evaluate(dets[:0], ev)
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
}
