package archive

import (
	"bytes"
	"context"
	"testing"
)

// fuzzOptions keep fuzz inputs cheap: small limits, shallow nesting.
var fuzzOptions = Options{MaxEntrySize: 64 << 10, MaxTotalSize: 8 << 20, MaxEntries: 1000, MaxDepth: 2}

// fuzzWalk walks data and checks the invariants that must hold for any
// input: no panic, limits respected, refused entries carry no data.
func fuzzWalk(t *testing.T, tmp string, data []byte, format Format) {
	opts := fuzzOptions
	opts.TempDir = tmp
	var total int64
	_ = WalkReader(context.Background(), bytes.NewReader(data), "fuzz", format, opts, func(e Entry) error {
		if e.Err != nil {
			if e.Data != nil {
				t.Fatalf("refused entry %q carries data", e.Name)
			}
			return nil
		}
		if int64(len(e.Data)) > opts.MaxEntrySize {
			t.Fatalf("entry %q has %d bytes, above the %d limit", e.Name, len(e.Data), opts.MaxEntrySize)
		}
		if _, err := cleanName(e.Name); err != nil {
			t.Fatalf("entry with unsafe name %q handed over: %v", e.Name, err)
		}
		total += int64(len(e.Data))
		if total > opts.MaxTotalSize {
			t.Fatalf("walk handed over %d bytes, above the %d limit", total, opts.MaxTotalSize)
		}
		return nil
	})
}

func FuzzZip(f *testing.F) {
	for _, seed := range fuzzSeeds(f)["FuzzZip"] {
		f.Add(seed)
	}
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, tmp, data, FormatZip) })
}

func FuzzTar(f *testing.F) {
	for _, seed := range fuzzSeeds(f)["FuzzTar"] {
		f.Add(seed)
	}
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, tmp, data, FormatTar) })
}

func FuzzTarGzip(f *testing.F) {
	for _, seed := range fuzzSeeds(f)["FuzzTarGzip"] {
		f.Add(seed)
	}
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWalk(t, tmp, data, FormatTarGzip) })
}
