package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func tarOf(f *testing.F, hdrs ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			f.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				f.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzApplyLayer unpacks arbitrary layer tars: it must never panic, never
// exceed the limits and never write outside the root.
func FuzzApplyLayer(f *testing.F) {
	f.Add(tarOf(f,
		&tar.Header{Name: "lib/apk/db/installed", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644},
		&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeSymlink, Linkname: "/usr/lib/os-release"},
		&tar.Header{Name: "app/requirements.txt", Typeflag: tar.TypeLink, Linkname: "lib/apk/db/installed"},
	))
	f.Add(tarOf(f,
		&tar.Header{Name: "../../x/requirements.txt", Typeflag: tar.TypeReg, Size: 1},
		&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../"},
		&tar.Header{Name: "up/requirements.txt", Typeflag: tar.TypeReg, Size: 1},
		&tar.Header{Name: "app/.wh..wh..opq", Typeflag: tar.TypeReg},
		&tar.Header{Name: ".wh.lib", Typeflag: tar.TypeReg},
	))
	f.Fuzz(func(t *testing.T, layer []byte) {
		base, err := os.MkdirTemp("", "fuzz-layer-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		rootDir := filepath.Join(base, "root")
		if err = os.Mkdir(rootDir, 0o700); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(rootDir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		all := func(string, fs.FileInfo) bool { return true }
		budget := newUnpackBudget(UnpackLimits{MaxBytes: 1 << 20, MaxFiles: 1000})
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		_, _ = applyLayer(context.Background(), root, budget.reader(bytes.NewReader(layer)), all, budget, log)
		if budget.bytes > 1<<20+int64(len(layer)) || budget.files > 1001 {
			t.Fatalf("budget overrun: %d bytes, %d files", budget.bytes, budget.files)
		}
		entries, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("unpacking wrote next to the root: %v", entries)
		}
	})
}

// FuzzOCIArchive reads arbitrary bytes as an OCI layout archive (the tar
// that holds index.json and blobs): no panic, only errors.
func FuzzOCIArchive(f *testing.F) {
	f.Add(tarOf(f,
		&tar.Header{Name: "oci-layout", Typeflag: tar.TypeReg, Size: 2},
		&tar.Header{Name: "index.json", Typeflag: tar.TypeReg, Size: 2},
		&tar.Header{Name: "blobs/sha256/aaaa", Typeflag: tar.TypeReg, Size: 2},
	))
	f.Add(tarOf(f, &tar.Header{Name: "blobs/sha256/../../../x", Typeflag: tar.TypeReg, Size: 2}, &tar.Header{Name: "index.json", Typeflag: tar.TypeReg, Size: 0}))
	f.Fuzz(func(t *testing.T, archive []byte) {
		file := filepath.Join(t.TempDir(), "image.tar")
		if err := os.WriteFile(file, archive, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := ImageOptions{Offline: true, Limits: UnpackLimits{MaxBytes: 1 << 20, MaxFiles: 1000}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		_, _ = ImageInventory(context.Background(), file, opts)
	})
}
