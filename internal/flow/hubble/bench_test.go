package hubble

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkReader decodes the sample export (wrapped and bare flows, L7
// DNS and HTTP, non-flow events) over and over; lines/s is what one
// core decodes.
func BenchmarkReader(b *testing.B) {
	sample, err := os.ReadFile(filepath.Join("testdata", "export.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	input := bytes.Repeat(sample, 1000)
	lines := bytes.Count(input, []byte{'\n'})
	b.SetBytes(int64(len(input)))
	b.ResetTimer()
	for range b.N {
		r := NewReader(bytes.NewReader(input))
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
