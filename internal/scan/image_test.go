package scan_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// TestAlpineImagesNoFalsePositives is the false-positive control: both
// images are fully patched against the secdb snapshot.
func TestAlpineImagesNoFalsePositives(t *testing.T) {
	db := openShared(t)
	for _, tt := range []struct{ version, ecosystem string }{
		{"3.10", "Alpine:v3.10"},
		{"3.11", "Alpine:v3.11"},
	} {
		t.Run(tt.version, func(t *testing.T) {
			archive := filepath.Join(vulndbtest.DataDir(t), "inventories", "images", "alpine-"+tt.version+"-docker-save.tar.gz")
			pkgs, err := scan.ImageInventory(context.Background(), archive, scan.ImageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pkgs) != 14 {
				t.Errorf("packages = %d, want 14", len(pkgs))
			}
			for _, p := range pkgs {
				if p.Ecosystem != tt.ecosystem || p.Origin == "" || !strings.HasPrefix(p.Layer, "sha256:") {
					t.Errorf("package %+v: want ecosystem %s, an origin and a layer", p, tt.ecosystem)
				}
			}
			findings, err := (&scan.Matcher{DB: db}).Match(context.Background(), pkgs)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findings {
				t.Errorf("false positive: %s %s %s", f.Package.Name, f.Package.Version, f.AdvisoryID)
			}
		})
	}
}

type entry struct {
	name, body, link string
	typ              byte
}

func layerOf(t *testing.T, entries []entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link}
		switch e.typ {
		case tar.TypeReg:
			h.Size = int64(len(e.body))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func apkDB(pkgs ...string) string {
	var b strings.Builder
	for _, p := range pkgs {
		name, version, _ := strings.Cut(p, "=")
		b.WriteString("P:" + name + "\nV:" + version + "\nA:x86_64\no:" + name + "\n\n")
	}
	return b.String()
}

func TestImageLayersAndSafety(t *testing.T) {
	outside := t.TempDir()
	climb := strings.Repeat("../", 40) + strings.TrimPrefix(outside, "/")
	reg, dir, sym := byte(tar.TypeReg), byte(tar.TypeDir), byte(tar.TypeSymlink)
	layers := []v1.Layer{
		layerOf(t, []entry{
			{name: "etc/", typ: dir},
			{name: "usr/lib/os-release", typ: reg, body: "ID=alpine\nVERSION_ID=3.10.2\n"},
			{name: "etc/os-release", typ: sym, link: "/usr/lib/os-release"}, // absolute: resolved inside the root
			{name: "lib/apk/db/installed", typ: reg, body: apkDB("musl=1.1.22-r3")},
			{name: "../escape.txt", typ: reg, body: "x"},
			{name: "evil", typ: sym, link: climb},
		}),
		layerOf(t, []entry{
			{name: "lib/apk/db/installed", typ: reg, body: apkDB("musl=1.1.22-r3", "busybox=1.30.1-r3")},
			{name: "app/requirements.txt", typ: reg, body: "django==2.0.9\n"},
			{name: "app/old/requirements.txt", typ: reg, body: "flask==0.12\n"},
			{name: "evil/requirements.txt", typ: reg, body: "requests==2.0.0\n"}, // through an escaping link
		}),
		layerOf(t, []entry{
			{name: "app/.wh.old", typ: reg},
		}),
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(archive, name.MustParseReference("kubeward.test/image:1"), img); err != nil {
		t.Fatal(err)
	}
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		diffIDs[i] = d.String()
	}

	pkgs, err := scan.ImageInventory(context.Background(), archive, scan.ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range pkgs {
		got[p.Ecosystem+" "+p.Name+" "+p.Version] = p.Layer
	}
	want := map[string]string{
		"Alpine:v3.10 musl 1.1.22-r3":    diffIDs[0],
		"Alpine:v3.10 busybox 1.30.1-r3": diffIDs[1],
		"PyPI django 2.0.9":              diffIDs[1],
	}
	for k, layer := range want {
		if got[k] != layer {
			t.Errorf("%s: layer %q, want %q", k, got[k], layer)
		}
	}
	if len(got) != len(want) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Errorf("packages = %q, want only %d (flask was whited out, requests is outside the root)", keys, len(want))
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("image unpacking wrote outside its root: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(archive), "escape.txt")); err == nil {
		t.Error("../escape.txt was written next to the archive")
	}
}

func TestImageInventoryErrors(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(notTar, []byte("not a tar"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing.tar"), notTar} {
		if _, err := scan.ImageInventory(context.Background(), p, scan.ImageOptions{}); err == nil {
			t.Errorf("ImageInventory(%s) succeeded, want an error", p)
		}
	}
}

func BenchmarkImageInventory(b *testing.B) {
	archive := filepath.Join(vulndbtest.DataDir(b), "inventories", "images", "alpine-3.11-docker-save.tar.gz")
	for b.Loop() {
		if _, err := scan.ImageInventory(context.Background(), archive, scan.ImageOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
