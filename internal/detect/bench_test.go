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
// raise none, the common case of a real audit stream; "kube-apiserver"
// the events a real kube-apiserver wrote for TestRealAPIServerAudit's
// attacks and benign work (27 events, 22 of them raising detections). Besides wall time,
// the benchmark reports cpu-ns/op and events/cpu-s measured with
// getrusage, which stay meaningful on a shared, busy machine.
func BenchmarkUpstreamRules(b *testing.B) {
	b.Run("mixed", func(b *testing.B) { benchRules(b, jsonFiles(b, "testdata/audit/*.json")) })
	b.Run("benign", func(b *testing.B) { benchRules(b, jsonFiles(b, "testdata/audit/benign_*.json")) })
	b.Run("kube-apiserver", func(b *testing.B) { benchRules(b, logLines(b, captureBase+".log")) })
}

// jsonFiles returns the compacted JSON of the files matching glob.
func jsonFiles(b *testing.B, glob string) [][]byte {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		b.Fatalf("no files match %s: %v", glob, err)
	}
	var lines [][]byte
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
	}
	return lines
}

// logLines returns the lines of an audit log in JSON lines.
func logLines(b *testing.B, path string) [][]byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		b.Fatalf("%s holds no events", path)
	}
	return lines
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRules(b *testing.B, lines [][]byte) {
	e := newEngine(b, upstreamRules(b))
	size := 0
	for _, l := range lines {
		size += len(l)
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
