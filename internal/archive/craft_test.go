package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io/fs"
	"testing"
	"time"
)

// Helpers that craft archives in memory for the tests and the fuzz seed
// corpus. Times are fixed so the output is deterministic.

var craftTime = time.Date(2024, 10, 22, 0, 0, 0, 0, time.UTC)

// file is one archive member to craft.
type file struct {
	name    string
	data    string
	mode    fs.FileMode // 0 means a regular 0644 file
	link    string      // link target for symlinks and hard links
	tarType byte        // overrides the tar type flag when set
}

func makeZip(tb testing.TB, files ...file) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: craftTime}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			tb.Fatalf("zip create %s: %v", f.name, err)
		}
		data := f.data
		if mode&fs.ModeSymlink != 0 {
			data = f.link
		}
		if _, err := w.Write([]byte(data)); err != nil {
			tb.Fatalf("zip write %s: %v", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatalf("zip close: %v", err)
	}
	return buf.Bytes()
}

// makeLyingZip writes one deflated entry whose header declares claimed
// uncompressed bytes while the data inflates to actual.
func makeLyingZip(tb testing.TB, name string, actual []byte, claimed uint64) []byte {
	tb.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := fw.Write(actual); err != nil {
		tb.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{
		Name: name, Method: zip.Deflate, Modified: craftTime,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: claimed,
	}
	w, err := zw.CreateRaw(h)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(comp.Bytes()); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func makeTar(tb testing.TB, files ...file) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: craftTime, Typeflag: tar.TypeReg}
		if f.tarType != 0 {
			h.Typeflag = f.tarType
			h.Linkname = f.link
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatalf("tar header %s: %v", f.name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(f.data)); err != nil {
				tb.Fatalf("tar write %s: %v", f.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatalf("tar close: %v", err)
	}
	return buf.Bytes()
}

func gzipBytes(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.ModTime = craftTime
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// goodFiles is the content every format test expects back.
var goodFiles = []file{
	{name: "cves/2024/10xxx/CVE-2024-10001.json", data: `{"cveMetadata":{"cveId":"CVE-2024-10001"}}`},
	{name: "cves/2023/1xxx/CVE-2023-1002.json", data: `{"cveMetadata":{"cveId":"CVE-2023-1002"}}`},
	{name: "cves/README.md", data: "not selected"},
}

// fuzzSeeds are the crafted archives of the seed corpus, by file name.
func fuzzSeeds(tb testing.TB) map[string]map[string][]byte {
	tb.Helper()
	big := bytes.Repeat([]byte("A"), 4096)
	return map[string]map[string][]byte{
		"FuzzZip": {
			"good":           makeZip(tb, goodFiles...),
			"path-traversal": makeZip(tb, file{name: "../../etc/evil.json", data: "{}"}, file{name: "/abs.json", data: "{}"}, file{name: `a\..\b.json`, data: "{}"}),
			"symlink":        makeZip(tb, file{name: "link.json", mode: fs.ModeSymlink | 0o777, link: "/etc/passwd"}),
			"claims-2GB":     makeLyingZip(tb, "bomb.json", []byte("{}"), 2<<30),
			"lying-header":   makeLyingZip(tb, "lie.json", big, 10),
			"nested-zip":     makeZip(tb, file{name: "cves.zip", data: string(makeZip(tb, goodFiles...))}),
			"truncated":      makeZip(tb, goodFiles...)[:60],
		},
		"FuzzTar": {
			"good":           makeTar(tb, goodFiles...),
			"path-traversal": makeTar(tb, file{name: "../evil.json", data: "{}"}, file{name: "C:/x.json", data: "{}"}),
			"links":          makeTar(tb, file{name: "s.json", tarType: tar.TypeSymlink, link: "/etc/passwd"}, file{name: "h.json", tarType: tar.TypeLink, link: "s.json"}, file{name: "dev.json", tarType: tar.TypeChar}),
			"nested-targz":   makeTar(tb, file{name: "inner.tar.gz", data: string(gzipBytes(tb, makeTar(tb, goodFiles...)))}),
			"truncated":      makeTar(tb, goodFiles...)[:700],
		},
		"FuzzTarGzip": {
			"good":      gzipBytes(tb, makeTar(tb, goodFiles...)),
			"truncated": gzipBytes(tb, makeTar(tb, goodFiles...))[:80],
			"zeros":     gzipBytes(tb, makeTar(tb, file{name: "z.json", data: string(make([]byte, 64<<10))})),
		},
	}
}
