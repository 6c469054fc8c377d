package cve

import (
	"syscall"
	"testing"
	"time"
)

// benchRecords is how many real records BenchmarkParse cycles through.
const benchRecords = 2000

func loadBenchRecords(b *testing.B) ([][]byte, int64) {
	b.Helper()
	var recs [][]byte
	var size int64
	walkRecords(b, func(_ string, data []byte) bool {
		recs = append(recs, data)
		size += int64(len(data))
		return len(recs) < benchRecords
	})
	return recs, size / int64(len(recs))
}

// BenchmarkParse parses real records from the vulnrichment snapshot; it
// reports records/s and MB/s (of the average record size).
func BenchmarkParse(b *testing.B) {
	recs, avg := loadBenchRecords(b)
	b.SetBytes(avg)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		if _, err := Parse(recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, n, cpu0)
}

// BenchmarkPeekID measures PeekID on the same records.
func BenchmarkPeekID(b *testing.B) {
	recs, avg := loadBenchRecords(b)
	b.SetBytes(avg)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		if _, err := PeekID(recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, n, cpu0)
}

// cpuTime is the process's user+system CPU time. The benchmarks report
// records per CPU-second as well as per wall-second because the machine
// they run on is shared: wall time overstates the cost under load.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate reports records/s (wall) and records/cpu-s.
func reportRate(b *testing.B, n int, cpu0 time.Duration) {
	b.Helper()
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "records/cpu-s")
	}
}
