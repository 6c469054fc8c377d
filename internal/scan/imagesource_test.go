package scan_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// sharedAlpine returns the path of the shared `docker save` archive of
// alpine version and the image in it.
func sharedAlpine(t testing.TB, version string) (string, v1.Image) {
	t.Helper()
	archive := filepath.Join(vulndbtest.DataDir(t), "inventories", "images", "alpine-"+version+"-docker-save.tar.gz")
	img, err := tarball.Image(func() (io.ReadCloser, error) {
		f, err := os.Open(archive)
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return archive, img
}

// inventoryOf scans source and returns "ecosystem name version @layer"
// lines, failing the test on error.
func inventoryOf(t *testing.T, source string, opts scan.ImageOptions) []string {
	t.Helper()
	pkgs, err := scan.ImageInventory(context.Background(), source, opts)
	if err != nil {
		t.Fatalf("ImageInventory(%s): %v", source, err)
	}
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = fmt.Sprintf("%s %s %s @%s", p.Ecosystem, p.Name, p.Version, p.Layer)
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// startRegistry serves an in-memory registry on 127.0.0.1 and returns its
// host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestRegistryImages(t *testing.T) {
	archive310, img310 := sharedAlpine(t, "3.10")
	_, img311 := sharedAlpine(t, "3.11")
	fromArchive := inventoryOf(t, archive310, scan.ImageOptions{})
	if len(fromArchive) != 14 {
		t.Fatalf("the docker save archive holds %d packages, want 14", len(fromArchive))
	}
	host := startRegistry(t)

	tag, err := name.ParseReference(host + "/library/alpine:3.10")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img310); err != nil {
		t.Fatal(err)
	}
	digest, err := img310.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// A multi-platform index: 3.10 for amd64, 3.11 for arm64.
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img310, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: img311, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	multi, err := name.ParseReference(host + "/library/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(multi, idx); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, ref, platform, ecosystem string
	}{
		{"tag", tag.String(), "", "Alpine:v3.10"},
		{"digest", host + "/library/alpine@" + digest.String(), "", "Alpine:v3.10"},
		{"index amd64", multi.String(), "linux/amd64", "Alpine:v3.10"},
		{"index arm64", multi.String(), "linux/arm64/v8", "Alpine:v3.11"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := scan.ImageOptions{Platform: tt.platform, InsecureRegistry: true, Keychain: authn.NewMultiKeychain()}
			got := inventoryOf(t, tt.ref, opts)
			if len(got) != 14 {
				t.Fatalf("packages = %d, want 14: %q", len(got), got)
			}
			for _, l := range got {
				if !strings.HasPrefix(l, tt.ecosystem+" ") {
					t.Errorf("package %q: want ecosystem %s", l, tt.ecosystem)
				}
			}
			if tt.ecosystem == "Alpine:v3.10" {
				sameLines(t, "registry pull vs docker save archive", got, fromArchive)
			}
		})
	}

	t.Run("unknown platform", func(t *testing.T) {
		_, err := scan.ImageInventory(context.Background(), multi.String(), scan.ImageOptions{Platform: "linux/s390x"})
		if err == nil || !strings.Contains(err.Error(), "s390x") {
			t.Errorf("err = %v, want a no-matching-platform error naming linux/s390x", err)
		}
	})
	t.Run("missing tag", func(t *testing.T) {
		if _, err := scan.ImageInventory(context.Background(), host+"/library/alpine:nope", scan.ImageOptions{}); err == nil {
			t.Error("pulling a missing tag succeeded")
		}
	})
}

// writeLayout writes an OCI layout of imgs (each with its platform) to a
// new directory.
func writeLayout(t *testing.T, imgs map[string]v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for plat, img := range imgs {
		var opts []layout.Option
		if plat != "" {
			pl, err := v1.ParsePlatform(plat)
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, layout.WithPlatform(*pl))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarDir writes the tree under dir as a tar (gzip-compressed when gz).
func tarDir(t *testing.T, dir string, gz bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "layout.tar")
	if gz {
		out += ".gz"
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		w = zw
	}
	tw := tar.NewWriter(w)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOCILayouts(t *testing.T) {
	archive310, img310 := sharedAlpine(t, "3.10")
	_, img311 := sharedAlpine(t, "3.11")
	want := inventoryOf(t, archive310, scan.ImageOptions{})
	single := writeLayout(t, map[string]v1.Image{"": img310})
	multi := writeLayout(t, map[string]v1.Image{"linux/amd64": img310, "linux/arm64": img311})

	for _, tt := range []struct {
		name, source, platform string
	}{
		{"directory", single, ""},
		{"tar", tarDir(t, single, false), ""},
		{"tar.gz", tarDir(t, single, true), ""},
		{"multi-platform directory", multi, "linux/amd64"},
		{"multi-platform tar", tarDir(t, multi, false), "linux/amd64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sameLines(t, "OCI layout vs docker save archive", inventoryOf(t, tt.source, scan.ImageOptions{Platform: tt.platform}), want)
		})
	}
	t.Run("arm64 of the multi-platform layout", func(t *testing.T) {
		for _, l := range inventoryOf(t, multi, scan.ImageOptions{Platform: "linux/arm64"}) {
			if !strings.HasPrefix(l, "Alpine:v3.11 ") {
				t.Errorf("package %q: want the 3.11 image", l)
			}
		}
	})

	notLayout := t.TempDir()
	if err := os.WriteFile(filepath.Join(notLayout, "x"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokenIndex := t.TempDir()
	if err := os.WriteFile(filepath.Join(brokenIndex, "index.json"), []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc","size":2}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{notLayout, brokenIndex, tarDir(t, notLayout, false)} {
		if _, err := scan.ImageInventory(context.Background(), src, scan.ImageOptions{}); err == nil {
			t.Errorf("ImageInventory(%s) succeeded, want an error", src)
		}
	}
}

// dialRecorder is a transport that records every dial and refuses it.
type dialRecorder struct{ dials atomic.Int64 }

func (d *dialRecorder) transport() http.RoundTripper {
	return &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			d.dials.Add(1)
			return nil, errors.New("test transport: network access")
		},
	}
}

func TestOfflineMakesNoNetworkCall(t *testing.T) {
	archive, _ := sharedAlpine(t, "3.10")
	host := startRegistry(t)
	ref := host + "/library/alpine:3.10"

	var rec dialRecorder
	opts := scan.ImageOptions{Offline: true, Transport: rec.transport(), Keychain: authn.NewMultiKeychain()}
	for _, src := range []string{ref, "registry.example/team/app@sha256:" + strings.Repeat("a", 64), "alpine"} {
		_, err := scan.ImageInventory(context.Background(), src, opts)
		if !errors.Is(err, scan.ErrOffline) {
			t.Errorf("offline scan of %s: err = %v, want ErrOffline", src, err)
		}
	}
	if got := inventoryOf(t, archive, opts); len(got) != 14 {
		t.Errorf("offline scan of the docker save archive: %d packages, want 14", len(got))
	}
	if n := rec.dials.Load(); n != 0 {
		t.Errorf("offline scans dialled %d times, want 0", n)
	}

	// The same transport without --offline does dial: the check above
	// would see a network call if offline mode let one through.
	opts.Offline = false
	if _, err := scan.ImageInventory(context.Background(), ref, opts); err == nil {
		t.Error("a pull through the refusing transport succeeded")
	}
	if rec.dials.Load() == 0 {
		t.Error("the pull did not use the test transport, so the offline check proves nothing")
	}
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// bombLayer is a layer whose tar holds one file of size zero bytes,
// generated while it is read (never held in memory).
func bombLayer(t *testing.T, size int64) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			tw := tar.NewWriter(pw)
			err := tw.WriteHeader(&tar.Header{Name: "lib/apk/db/installed", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
			if err == nil {
				_, err = io.CopyN(tw, zeros{}, size)
			}
			if err == nil {
				err = tw.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}, tarball.WithCompressedCaching)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestUnpackLimits(t *testing.T) {
	many := make([]entry, 300)
	for i := range many {
		many[i] = entry{name: fmt.Sprintf("d/f%d", i), typ: tar.TypeReg, body: "x"}
	}
	for _, tt := range []struct {
		name   string
		layer  v1.Layer
		limits scan.UnpackLimits
	}{
		{"bytes", bombLayer(t, 64<<20), scan.UnpackLimits{MaxBytes: 8 << 20}},
		{"files", layerOf(t, many), scan.UnpackLimits{MaxFiles: 100}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img, err := mutate.AppendLayers(empty.Image, tt.layer)
			if err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(t.TempDir(), "bomb.tar")
			if err := tarball.WriteToFile(archive, name.MustParseReference("kubeward.test/bomb:1"), img); err != nil {
				t.Fatal(err)
			}
			if _, err := scan.ImageInventory(context.Background(), archive, scan.ImageOptions{Limits: tt.limits}); !errors.Is(err, scan.ErrUnpackLimit) {
				t.Errorf("err = %v, want ErrUnpackLimit", err)
			}
			// The default limits let the same image through.
			if _, err := scan.ImageInventory(context.Background(), archive, scan.ImageOptions{}); err != nil {
				t.Errorf("with the default limits: %v", err)
			}
		})
	}
}

func TestHardLinkTricks(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "requirements.txt")
	if err := os.WriteFile(secret, []byte("requests==2.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, dir, sym, hard := byte(tar.TypeReg), byte(tar.TypeDir), byte(tar.TypeSymlink), byte(tar.TypeLink)
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, []entry{
		{name: "app/", typ: dir},
		{name: "app/requirements.txt", typ: reg, body: "django==2.0.9\n"},
		{name: "via", typ: sym, link: "app"},
		{name: "host", typ: sym, link: outside},
		{name: "ok/requirements.txt", typ: hard, link: "app/requirements.txt"},      // legitimate
		{name: "climb/requirements.txt", typ: hard, link: "../../" + secret},        // leaves the root
		{name: "abs/requirements.txt", typ: hard, link: secret},                     // absolute: the host file
		{name: "through/requirements.txt", typ: hard, link: "via/requirements.txt"}, // through a symlink
		{name: "escape/requirements.txt", typ: hard, link: "host/requirements.txt"}, // through an escaping symlink
		{name: "dirlink/requirements.txt", typ: hard, link: "app"},                  // a directory
		{name: "self/requirements.txt", typ: hard, link: "self/requirements.txt"},   // itself
	}))
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "links.tar")
	if err := tarball.WriteToFile(archive, name.MustParseReference("kubeward.test/links:1"), img); err != nil {
		t.Fatal(err)
	}
	pkgs, err := scan.ImageInventory(context.Background(), archive, scan.ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+" "+p.Version+" "+p.Location)
	}
	sameLines(t, "packages", got, []string{"django 2.0.9 app/requirements.txt", "django 2.0.9 ok/requirements.txt"})
	if _, err := os.Stat(secret); err != nil || !fileUnchanged(t, secret, "requests==2.0.0\n") {
		t.Error("the host file was touched")
	}
}

func fileUnchanged(t *testing.T, path, want string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b) == want
}

// BenchmarkRegistryImage pulls and inventories the shared Alpine 3.11
// image from an in-process registry on 127.0.0.1 (manifest, config and
// layer over HTTP, layer streamed through gunzip and the unpacker).
func BenchmarkRegistryImage(b *testing.B) {
	_, img := sharedAlpine(b, "3.11")
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/library/alpine:3.11")
	if err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		b.Fatal(err)
	}
	opts := scan.ImageOptions{Keychain: authn.NewMultiKeychain()}
	for b.Loop() {
		if _, err := scan.ImageInventory(context.Background(), ref.String(), opts); err != nil {
			b.Fatal(err)
		}
	}
}
