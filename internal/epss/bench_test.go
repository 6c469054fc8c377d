package epss

import (
	"bytes"
	"testing"
)

// BenchmarkReadSynthetic reads a synthetic 250,000-row file (about the
// size of a real daily EPSS file), plain and gzipped.
func BenchmarkReadSynthetic(b *testing.B) {
	plain := syntheticFile(syntheticComment, syntheticRows(250000))
	for name, data := range map[string][]byte{"plain": plain, "gzip": gzipped(b, plain)} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				meta, err := Read(bytes.NewReader(data), func(Score) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				rows += meta.Rows
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
