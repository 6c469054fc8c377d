package jobtest

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// DockerArchive returns a `docker save` archive of a one-layer image,
// tagged ref, whose layer holds files (path → content).
func DockerArchive(tb testing.TB, ref string, files map[string][]byte) []byte {
	tb.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for p, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		tb.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		tb.Fatal(err)
	}
	tag, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if err := tarball.Write(tag, img, &out); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// PipfileImage returns a `docker save` archive of an image holding the
// shared Pipfile.lock (django 2.0.9 and friends, with PyPA findings) as
// app/Pipfile.lock: a small image with findings, built at test time from
// the shared data.
func PipfileImage(tb testing.TB) []byte {
	tb.Helper()
	lock, err := os.ReadFile(filepath.Join(vulndbtest.DataDir(tb), "inventories", "lockfiles", "pipenv-ci", "Pipfile.lock"))
	if err != nil {
		tb.Fatal(err)
	}
	return DockerArchive(tb, "registry.example/shop/api:1.4", map[string][]byte{"app/Pipfile.lock": lock})
}

// AlpineArchive returns the path of the shared `docker save` archive of
// alpine:3.10 or alpine:3.11 (14 apk packages, no finding against the
// shared Alpine secdb).
func AlpineArchive(tb testing.TB, version string) string {
	tb.Helper()
	return filepath.Join(vulndbtest.DataDir(tb), "inventories", "images", "alpine-"+version+"-docker-save.tar.gz")
}

// OCILayoutTar converts a `docker save` archive into a tar of an OCI image
// layout directory (oci-layout, index.json, blobs/sha256/…), as `skopeo
// copy … oci-archive:` or `docker buildx --output type=oci` write it.
func OCILayoutTar(tb testing.TB, dockerArchive []byte) []byte {
	tb.Helper()
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(dockerArchive)), nil }, nil)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
