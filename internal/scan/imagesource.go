package scan

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ErrOffline is returned when a scan in offline mode is asked for
// something that needs the network (a registry reference).
var ErrOffline = errors.New("offline mode forbids network access")

// SourceKind says what an image source string named.
type SourceKind string

// Image source kinds.
const (
	// SourceDockerArchive is a `docker save` archive (tar or tar.gz).
	SourceDockerArchive SourceKind = "docker-archive"
	// SourceOCILayout is an OCI image layout directory.
	SourceOCILayout SourceKind = "oci-layout"
	// SourceOCIArchive is a tar (or tar.gz) of an OCI image layout.
	SourceOCIArchive SourceKind = "oci-archive"
	// SourceRegistry is a registry reference (repo:tag or repo@digest).
	SourceRegistry SourceKind = "registry"
)

// ImageOptions configure how an image source is resolved and unpacked.
// The zero value scans for linux on the host's architecture, with the
// default keychain, the default limits and no progress output.
type ImageOptions struct {
	// Platform selects the image of a multi-platform index, as
	// "os/arch[/variant]"; empty means linux on the host's architecture
	// (and an index of one image is taken whatever its platform).
	Platform string
	// InsecureRegistry allows plain HTTP (and falls back from TLS) for the
	// registry of the reference. Loopback and private-address registries
	// are reached over HTTP without it.
	InsecureRegistry bool
	// Offline refuses registry references with ErrOffline before any
	// network call; archives and layouts are read as usual.
	Offline bool
	// Keychain resolves registry credentials; nil means
	// authn.DefaultKeychain (docker config, credential helpers).
	Keychain authn.Keychain
	// Transport carries registry requests; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Limits bound what the image may unpack to; zero fields take the
	// defaults of DefaultUnpackLimits.
	Limits UnpackLimits
	// LayerProgress, when set, is called before each layer is read and
	// receives a copy of its uncompressed bytes through the returned
	// writer (a progress bar, typically). size is the layer's compressed
	// size, or -1 when unknown.
	LayerProgress func(index, count int, digest string, size int64) io.Writer
	// Logger receives skipped entries and extractor problems; nil means
	// slog.Default().
	Logger *slog.Logger
}

// imageSource is a resolved image and what to call it in messages.
type imageSource struct {
	kind SourceKind
	img  v1.Image
}

// sourceKindOf says what source names without opening it beyond what is
// needed to tell archive formats apart. A string that is not an existing
// path is a registry reference, unless it looks like a path (it starts
// with "/", "." or "~", or ends in .tar, .tar.gz or .tgz), in which case it
// is reported as missing rather than sent to a registry.
func sourceKindOf(source string) (SourceKind, error) {
	st, err := os.Stat(source)
	switch {
	case err == nil && st.IsDir():
		if _, err := os.Stat(filepath.Join(source, "index.json")); err != nil {
			return "", fmt.Errorf("%s is a directory but not an OCI image layout (no index.json): %w", source, err)
		}
		return SourceOCILayout, nil
	case err == nil:
		return archiveKind(source)
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	case looksLikePath(source):
		return "", fmt.Errorf("image archive %s: %w", source, err)
	}
	return SourceRegistry, nil
}

func looksLikePath(s string) bool {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") || strings.Contains(s, string(filepath.Separator)+".") {
		return true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(s, ext) {
			return true
		}
	}
	return false
}

// archiveKind tells a `docker save` archive (it has manifest.json) from an
// OCI layout archive (index.json without manifest.json) by reading the tar
// headers.
func archiveKind(file string) (SourceKind, error) {
	r, closeFn, err := openTar(file)
	if err != nil {
		return "", err
	}
	defer closeFn()
	tr := tar.NewReader(r)
	var index bool
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s is not a tar archive of an image: %w", file, err)
		}
		switch path.Clean(strings.TrimPrefix(hdr.Name, "./")) {
		case "manifest.json":
			return SourceDockerArchive, nil
		case "index.json":
			index = true
		}
	}
	if index {
		return SourceOCIArchive, nil
	}
	return "", fmt.Errorf("%s holds neither manifest.json (docker save) nor index.json (OCI layout)", file)
}

// openTar opens file as a tar stream, decompressing gzip on the fly.
func openTar(file string) (io.Reader, func(), error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", file, err)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		// An uncompressed tar: hand over the file itself, so tar.Reader
		// seeks past entry bodies instead of reading them.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("gunzip %s: %w", file, err)
	}
	return zr, func() { zr.Close(); f.Close() }, nil
}

// platform returns the platform to select and whether the user gave it.
func (o ImageOptions) platform() (v1.Platform, bool, error) {
	if o.Platform == "" {
		return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, false, nil
	}
	p, err := v1.ParsePlatform(o.Platform)
	if err != nil {
		return v1.Platform{}, false, fmt.Errorf("platform %q: %w (want os/arch[/variant], e.g. linux/arm64)", o.Platform, err)
	}
	return *p, true, nil
}

// openImage resolves source to an image; scratch is a private directory
// for decompressed or unpacked archives, removed by the caller.
func openImage(ctx context.Context, source, scratch string, opts ImageOptions) (imageSource, error) {
	kind, err := sourceKindOf(source)
	if err != nil {
		return imageSource{}, err
	}
	want, explicit, err := opts.platform()
	if err != nil {
		return imageSource{}, err
	}
	var img v1.Image
	switch kind {
	case SourceRegistry:
		img, err = pullImage(ctx, source, want, opts)
	case SourceDockerArchive:
		var tarPath string
		if tarPath, err = plainTar(source, scratch); err == nil {
			img, err = tarball.ImageFromPath(tarPath, nil)
			if err != nil {
				err = fmt.Errorf("not a single-image `docker save` archive: %w", err)
			}
		}
	case SourceOCIArchive:
		dir := filepath.Join(scratch, "layout")
		if err = unpackLayout(ctx, source, dir, opts.Limits.withDefaults(), opts.Logger); err == nil {
			img, err = layoutImage(dir, want, explicit)
		}
	case SourceOCILayout:
		img, err = layoutImage(source, want, explicit)
	}
	if err != nil {
		return imageSource{}, fmt.Errorf("%s %s: %w", kind, source, err)
	}
	return imageSource{kind: kind, img: img}, nil
}

// pullImage resolves a registry reference. Layers are fetched lazily, one
// stream at a time, when they are read.
func pullImage(ctx context.Context, ref string, want v1.Platform, opts ImageOptions) (v1.Image, error) {
	if opts.Offline {
		return nil, fmt.Errorf("%q is a registry reference and would be pulled: %w (scan a `docker save` archive or an OCI layout instead, or drop --offline)", ref, ErrOffline)
	}
	var nameOpts []name.Option
	if opts.InsecureRegistry {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("not an existing file or directory, nor a valid image reference: %w", err)
	}
	keychain := opts.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(keychain),
		remote.WithPlatform(want),
		remote.WithUserAgent("kubeward"),
	}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	img, err := remote.Image(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	return img, nil
}

// layoutImage opens the image of the OCI layout at dir for platform want,
// descending through nested indexes.
func layoutImage(dir string, want v1.Platform, explicit bool) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	raw, err := readFileBounded(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	for depth := 0; ; depth++ {
		m, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("image index: %w", err)
		}
		d, err := chooseManifest(m, want, explicit)
		if err != nil {
			return nil, err
		}
		if d.MediaType.IsImage() {
			if err := checkBlob(p, d.Digest); err != nil {
				return nil, err
			}
			img, err := p.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", d.Digest, err)
			}
			return img, nil
		}
		if depth >= maxIndexDepth {
			return nil, fmt.Errorf("image indexes nest deeper than %d levels", maxIndexDepth)
		}
		blob, err := p.Blob(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("image index %s: %w", d.Digest, err)
		}
		raw, err = io.ReadAll(io.LimitReader(blob, maxManifestBytes+1))
		blob.Close()
		if err != nil {
			return nil, fmt.Errorf("image index %s: %w", d.Digest, err)
		}
		if len(raw) > maxManifestBytes {
			return nil, fmt.Errorf("image index %s is larger than %d bytes", d.Digest, maxManifestBytes)
		}
	}
}

// checkBlob refuses manifest blobs that are too large to be real, before
// go-containerregistry reads them whole.
func checkBlob(p layout.Path, h v1.Hash) error {
	st, err := os.Stat(filepath.Join(string(p), "blobs", h.Algorithm, h.Hex))
	if err != nil {
		return fmt.Errorf("manifest %s: %w", h, err)
	}
	if st.Size() > maxManifestBytes {
		return fmt.Errorf("manifest %s is %d bytes (at most %d accepted)", h, st.Size(), maxManifestBytes)
	}
	return nil
}

func readFileBounded(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, maxManifestBytes)
	}
	return b, nil
}

// unpackLayout writes the layout files of an OCI layout archive (oci-layout,
// index.json and blobs/<algorithm>/<hex>) into dir; other entries are
// ignored. Blob names are validated as digests, so nothing is written
// outside dir, and limits bound the bytes and files written.
func unpackLayout(ctx context.Context, archive, dir string, limits UnpackLimits, log *slog.Logger) error {
	r, closeFn, err := openTar(archive)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	budget := newUnpackBudget(limits)
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := budget.entry(); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch {
		case n == "oci-layout" || n == "index.json":
		case strings.HasPrefix(n, "blobs/"):
			parts := strings.Split(n, "/")
			if len(parts) != 3 {
				continue
			}
			if _, err := v1.NewHash(parts[1] + ":" + parts[2]); err != nil {
				skipUnsafe(log, hdr.Name, reasonTraversal, "blob name is not a digest")
				continue
			}
			if err := root.MkdirAll(path.Dir(n), 0o700); err != nil {
				return err
			}
		default:
			continue
		}
		if err := budget.take(hdr.Size); err != nil {
			return err
		}
		f, err := root.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, io.LimitReader(tr, hdr.Size)); err != nil {
			f.Close()
			return fmt.Errorf("unpack %s: %w", n, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
}
