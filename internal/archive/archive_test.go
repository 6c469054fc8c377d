package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed corpus files from the crafted archives")

// collected is what a walk handed to the callback.
type collected struct {
	data    map[string]string // name → content of good entries
	refused map[string]error  // name → error of refused entries
}

func collect(tb testing.TB, walk func(Func) error) (collected, error) {
	tb.Helper()
	c := collected{data: map[string]string{}, refused: map[string]error{}}
	err := walk(func(e Entry) error {
		if e.Err != nil {
			if e.Data != nil {
				tb.Errorf("refused entry %s carries data", e.Name)
			}
			c.refused[e.Name] = e.Err
			return nil
		}
		c.data[e.Name] = string(e.Data)
		return nil
	})
	return c, err
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestWalkFormats(t *testing.T) {
	want := map[string]string{}
	for _, f := range goodFiles {
		if MatchJSON(f.name) {
			want[f.name] = f.data
		}
	}
	dir := t.TempDir()
	treeDir := filepath.Join(dir, "tree")
	for _, f := range goodFiles {
		writeFile(t, treeDir, f.name, []byte(f.data))
	}
	zipData := makeZip(t, goodFiles...)
	tarData := makeTar(t, goodFiles...)
	inputs := []struct {
		name string
		path string
	}{
		{"dir", treeDir},
		{"zip", writeFile(t, dir, "a.zip", zipData)},
		{"tar", writeFile(t, dir, "a.tar", tarData)},
		{"tar.gz", writeFile(t, dir, "a.tar.gz", gzipBytes(t, tarData))},
		{"tgz without extension", writeFile(t, dir, "download", gzipBytes(t, tarData))},
		{"zip in zip", writeFile(t, dir, "2024-10-22_all_CVEs_at_midnight.zip.zip", makeZip(t, file{name: "cves.zip", data: string(zipData)}))},
		{"zip in tar.gz", writeFile(t, dir, "b.tgz", gzipBytes(t, makeTar(t, file{name: "x/cves.zip", data: string(zipData)})))},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			got, err := collect(t, func(fn Func) error { return Walk(context.Background(), in.path, Options{}, fn) })
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if len(got.refused) > 0 {
				t.Errorf("refused entries: %v", got.refused)
			}
			if !equalMaps(got.data, want) {
				t.Errorf("entries = %v, want %v", keys(got.data), keys(want))
			}
		})
	}
}

func TestWalkSingleFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "CVE-2024-1.json", []byte(`{"a":1}`))
	got, err := collect(t, func(fn Func) error { return Walk(context.Background(), p, Options{}, fn) })
	if err != nil {
		t.Fatal(err)
	}
	if got.data["CVE-2024-1.json"] != `{"a":1}` || len(got.data) != 1 {
		t.Errorf("got %v", got.data)
	}
}

func TestWalkReaderSpoolsZip(t *testing.T) {
	zipData := makeZip(t, goodFiles...)
	// io.MultiReader hides ReaderAt, so the zip must be spooled.
	r := io.MultiReader(bytes.NewReader(zipData))
	got, err := collect(t, func(fn Func) error {
		return WalkReader(context.Background(), r, "stream.zip", FormatZip, Options{TempDir: t.TempDir()}, fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.data) != 2 {
		t.Errorf("got %v, want the 2 JSON entries", keys(got.data))
	}
}

func TestUnsafeEntries(t *testing.T) {
	good := file{name: "ok/CVE-2024-1.json", data: "{}"}
	tests := []struct {
		name    string
		archive func(t *testing.T) []byte
		format  Format
		opts    Options
		refused map[string]error
	}{
		{
			name: "zip traversal and absolute paths",
			archive: func(t *testing.T) []byte {
				return makeZip(t, file{name: "../../etc/evil.json", data: "{}"}, file{name: "/abs.json", data: "{}"},
					file{name: `a\..\b.json`, data: "{}"}, file{name: "C:/win.json", data: "{}"}, file{name: "a/../../up.json", data: "{}"}, good)
			},
			format: FormatZip,
			refused: map[string]error{
				"../../etc/evil.json": ErrUnsafePath, "/abs.json": ErrUnsafePath, `a\..\b.json`: ErrUnsafePath,
				"C:/win.json": ErrUnsafePath, "a/../../up.json": ErrUnsafePath,
			},
		},
		{
			name: "zip symlink and fifo",
			archive: func(t *testing.T) []byte {
				return makeZip(t, file{name: "link.json", mode: fs.ModeSymlink | 0o777, link: "/etc/passwd"},
					file{name: "pipe.json", mode: fs.ModeNamedPipe | 0o644}, good)
			},
			format:  FormatZip,
			refused: map[string]error{"link.json": ErrLink, "pipe.json": ErrSpecialFile},
		},
		{
			name: "zip entry over the limit by header",
			archive: func(t *testing.T) []byte {
				return makeZip(t, file{name: "big.json", data: strings.Repeat("x", 2048)}, good)
			},
			format:  FormatZip,
			opts:    Options{MaxEntrySize: 1024},
			refused: map[string]error{"big.json": ErrEntryTooLarge},
		},
		{
			// archive/zip stops at the declared size, so the lie shows
			// up as a corrupt entry before the size limit is reached.
			name: "zip header understates the size",
			archive: func(t *testing.T) []byte {
				return makeLyingZip(t, "lie.json", bytes.Repeat([]byte("x"), 4096), 10)
			},
			format:  FormatZip,
			opts:    Options{MaxEntrySize: 1024},
			refused: map[string]error{"lie.json": ErrEntryCorrupt},
		},
		{
			name: "tar links, devices, traversal",
			archive: func(t *testing.T) []byte {
				return makeTar(t, file{name: "s.json", tarType: tar.TypeSymlink, link: "/etc/passwd"},
					file{name: "h.json", tarType: tar.TypeLink, link: "s.json"},
					file{name: "dev", tarType: tar.TypeChar}, file{name: "blk", tarType: tar.TypeBlock},
					file{name: "../x.json", data: "{}"}, file{name: "/etc/y.json", data: "{}"}, good)
			},
			format: FormatTar,
			refused: map[string]error{
				"s.json": ErrLink, "h.json": ErrLink, "dev": ErrSpecialFile, "blk": ErrSpecialFile,
				"../x.json": ErrUnsafePath, "/etc/y.json": ErrUnsafePath,
			},
		},
		{
			name: "tar entry over the limit",
			archive: func(t *testing.T) []byte {
				return makeTar(t, file{name: "big.json", data: strings.Repeat("x", 2048)}, good)
			},
			format:  FormatTar,
			opts:    Options{MaxEntrySize: 1024},
			refused: map[string]error{"big.json": ErrEntryTooLarge},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]float64{}
			for _, want := range tt.refused {
				before[Reason(want)] = testutil.ToFloat64(rejectedEntries.WithLabelValues(Reason(want)))
			}
			got, err := collect(t, func(fn Func) error {
				return WalkReader(context.Background(), bytes.NewReader(tt.archive(t)), "test", tt.format, tt.opts, fn)
			})
			if err != nil {
				t.Fatalf("walk failed, want it to go on past bad entries: %v", err)
			}
			if got.data[good.name] != good.data && tt.name != "zip header understates the size" {
				t.Errorf("good entry missing; got %v", keys(got.data))
			}
			if len(got.refused) != len(tt.refused) {
				t.Errorf("refused %v, want %v", got.refused, tt.refused)
			}
			wantCount := map[string]float64{}
			for name, want := range tt.refused {
				if !errors.Is(got.refused[name], want) {
					t.Errorf("entry %q: error %v, want %v", name, got.refused[name], want)
				}
				var ee *EntryError
				if !errors.As(got.refused[name], &ee) {
					t.Errorf("entry %q: error %T is not an *EntryError", name, got.refused[name])
				}
				wantCount[Reason(want)]++
			}
			for reason, n := range wantCount {
				if d := testutil.ToFloat64(rejectedEntries.WithLabelValues(reason)) - before[reason]; d != n {
					t.Errorf("metric reason=%s grew by %v, want %v", reason, d, n)
				}
			}
		})
	}
}

func TestUnsafeArchives(t *testing.T) {
	zeros := make([]byte, 8<<20)
	tests := []struct {
		name    string
		archive func(t *testing.T) []byte
		format  Format
		opts    Options
		want    error
	}{
		{
			name:    "zip header claims 2 GB",
			archive: func(t *testing.T) []byte { return makeLyingZip(t, "bomb.json", []byte("{}"), 2<<30) },
			format:  FormatZip,
			want:    ErrCompressionRatio,
		},
		{
			name:    "zip headers claim more than the total limit",
			archive: func(t *testing.T) []byte { return makeLyingZip(t, "bomb.json", []byte("{}"), 2<<30) },
			format:  FormatZip,
			opts:    Options{MaxTotalSize: 1 << 30},
			want:    ErrTotalTooLarge,
		},
		{
			name: "tar.gz bomb",
			archive: func(t *testing.T) []byte {
				return gzipBytes(t, makeTar(t, file{name: "z.json", data: string(zeros)}))
			},
			format: FormatTarGzip,
			opts:   Options{MaxEntrySize: 32 << 20},
			want:   ErrCompressionRatio,
		},
		{
			name:    "tar over the total limit",
			archive: func(t *testing.T) []byte { return gzipBytes(t, makeTar(t, goodFiles...)) },
			format:  FormatTarGzip,
			opts:    Options{MaxTotalSize: 1000},
			want:    ErrTotalTooLarge,
		},
		{
			name:    "too many zip entries",
			archive: func(t *testing.T) []byte { return makeZip(t, goodFiles...) },
			format:  FormatZip,
			opts:    Options{MaxEntries: 2},
			want:    ErrTooManyEntries,
		},
		{
			name:    "too many tar entries",
			archive: func(t *testing.T) []byte { return makeTar(t, goodFiles...) },
			format:  FormatTar,
			opts:    Options{MaxEntries: 2},
			want:    ErrTooManyEntries,
		},
		{
			name: "nesting too deep",
			archive: func(t *testing.T) []byte {
				return makeZip(t, file{name: "a.zip", data: string(makeZip(t, file{name: "b.zip", data: string(makeZip(t, goodFiles...))}))})
			},
			format: FormatZip,
			opts:   Options{MaxDepth: 2},
			want:   ErrNestingTooDeep,
		},
		{
			name:    "truncated zip",
			archive: func(t *testing.T) []byte { z := makeZip(t, goodFiles...); return z[:len(z)-30] },
			format:  FormatZip,
			want:    ErrCorrupt,
		},
		{
			name:    "truncated tar.gz",
			archive: func(t *testing.T) []byte { z := gzipBytes(t, makeTar(t, goodFiles...)); return z[:len(z)/2] },
			format:  FormatTarGzip,
			want:    ErrCorrupt,
		},
		{
			name:    "not gzip",
			archive: func(t *testing.T) []byte { return []byte("plain text") },
			format:  FormatTarGzip,
			want:    ErrCorrupt,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := Reason(tt.want)
			before := testutil.ToFloat64(rejectedArchives.WithLabelValues(reason))
			var entries int
			err := WalkReader(context.Background(), bytes.NewReader(tt.archive(t)), "test", tt.format, tt.opts, func(e Entry) error {
				entries++
				return nil
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == ErrCompressionRatio && tt.format == FormatZip && entries > 0 {
				t.Errorf("bomb entries were inflated and handed over (%d)", entries)
			}
			if d := testutil.ToFloat64(rejectedArchives.WithLabelValues(reason)) - before; d != 1 {
				t.Errorf("kubeward_archive_rejected_archives_total{reason=%q} grew by %v, want 1", reason, d)
			}
		})
	}
}

func TestWalkDirRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a/CVE-2024-1.json", []byte("{}"))
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "a", "CVE-2024-2.json")); err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, func(fn Func) error { return Walk(context.Background(), dir, Options{}, fn) })
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(got.refused["a/CVE-2024-2.json"], ErrLink) {
		t.Errorf("symlink not refused: %v", got.refused)
	}
	if got.data["a/CVE-2024-1.json"] != "{}" {
		t.Errorf("regular file missing: %v", got.data)
	}
}

func TestCallbackErrorStopsWalk(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := WalkReader(context.Background(), bytes.NewReader(makeZip(t, goodFiles...)), "x.zip", FormatAuto, Options{}, func(Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err=%v calls=%d, want stop after 1", err, calls)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := WalkReader(ctx, bytes.NewReader(makeTar(t, goodFiles...)), "x.tar", FormatTar, Options{}, func(Entry) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a/b.json", "a/b.json", true},
		{"a/./b.json", "a/b.json", true},
		{"dir/", "dir", true},
		{"..", "", false},
		{"../a", "", false},
		{"a/../../b", "", false},
		{"a/../b", "", false},
		{"/a", "", false},
		{`a\b`, "", false},
		{"c:/a", "", false},
		{"C:a", "", false},
		{"", "", false},
		{"a\x00b", "", false},
		{".", "", false},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestFuzzCorpus checks that the committed seed corpus holds every crafted
// archive; run with -update-corpus to rewrite it.
func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		for name, data := range seeds {
			p := filepath.Join("testdata", "fuzz", target, name)
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if *updateCorpus {
				writeFile(t, ".", p, []byte(content))
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("seed corpus file %s missing (run go test -run TestFuzzCorpus -update-corpus): %v", p, err)
			}
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
