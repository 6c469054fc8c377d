package scan

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/osv-scalibr/extractor/filesystem"
)

// maxExtractedFile bounds the size of one file unpacked from an image
// layer; package databases are far smaller.
const maxExtractedFile = 512 << 20

// osReleaseFiles are unpacked from every layer even though no extractor
// asks for them: the OS package extractors read them to name the
// distribution release (the "v3.10" of "Alpine:v3.10").
var osReleaseFiles = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// ImageInventory reads an image archive written by `docker save` (a tar,
// optionally gzip-compressed) holding one image, applies its layers in
// order to a private scratch directory, and returns the packages of the
// final filesystem, each attributed to the diff ID of the layer that added
// it. Only the files an extractor needs (and os-release) are unpacked, and
// every write goes through an os.Root, so entries that try to leave the
// root ("../x", links to absolute or escaping targets) cannot touch the
// host; such entries are skipped, logged and counted. Whiteouts (".wh.x",
// ".wh..wh..opq") delete what earlier layers added.
func ImageInventory(ctx context.Context, archive string, log *slog.Logger) ([]Package, error) {
	if log == nil {
		log = slog.Default()
	}
	scratch, err := os.MkdirTemp("", "kubeward-image-")
	if err != nil {
		return nil, fmt.Errorf("scan image %s: scratch directory: %w", archive, err)
	}
	defer os.RemoveAll(scratch)

	tarPath, err := plainTar(archive, scratch)
	if err != nil {
		return nil, fmt.Errorf("scan image %s: %w", archive, err)
	}
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		return nil, fmt.Errorf("scan image %s: not a single-image `docker save` archive: %w", archive, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("scan image %s: read layers: %w", archive, err)
	}
	rootDir := filepath.Join(scratch, "rootfs")
	if err := os.Mkdir(rootDir, 0o700); err != nil {
		return nil, fmt.Errorf("scan image %s: %w", archive, err)
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, fmt.Errorf("scan image %s: %w", archive, err)
	}
	defer root.Close()
	exs, err := extractors()
	if err != nil {
		return nil, fmt.Errorf("scan image %s: %w", archive, err)
	}
	want := func(name string, fi fs.FileInfo) bool {
		if osReleaseFiles[name] {
			return true
		}
		api := tarFileAPI{path: name, info: fi}
		for _, ex := range exs {
			if ex.FileRequired(api) {
				return true
			}
		}
		return false
	}

	addedBy := map[packageKey]string{}
	var pkgs []Package
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("scan image %s: layer %d: %w", archive, i, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("scan image %s: layer %s: %w", archive, diffID, err)
		}
		changed, err := applyLayer(ctx, root, rc, want, log.With("layer", diffID.String()))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("scan image %s: layer %s: %w", archive, diffID, err)
		}
		if !changed && i > 0 {
			continue
		}
		if pkgs, err = inventoryRoot(ctx, root, log); err != nil {
			return nil, fmt.Errorf("scan image %s: layer %s: %w", archive, diffID, err)
		}
		for _, p := range pkgs {
			k := keyOf(p)
			if _, ok := addedBy[k]; !ok {
				addedBy[k] = diffID.String()
			}
		}
	}
	for i := range pkgs {
		pkgs[i].Layer = addedBy[keyOf(pkgs[i])]
	}
	inventoryPackages.Add(float64(len(pkgs)))
	return pkgs, nil
}

type packageKey struct{ ecosystem, name, version, location string }

func keyOf(p Package) packageKey { return packageKey{p.Ecosystem, p.Name, p.Version, p.Location} }

// plainTar returns archive itself when it is an uncompressed tar, or a
// decompressed copy in dir when it is gzip-compressed.
func plainTar(archive, dir string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if err != nil {
		return "", fmt.Errorf("read archive: %w", err)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return archive, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return "", fmt.Errorf("gunzip archive: %w", err)
	}
	out := filepath.Join(dir, "image.tar")
	w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(w, zr); err != nil {
		w.Close()
		return "", fmt.Errorf("gunzip archive: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return out, nil
}

// applyLayer unpacks the wanted files, every directory and symbolic link,
// and hard links to wanted files of one layer tar into root, and applies
// its whiteouts. changed reports whether a wanted file appeared or
// something was deleted.
func applyLayer(ctx context.Context, root *os.Root, r io.Reader, want func(string, fs.FileInfo) bool, log *slog.Logger) (changed bool, err error) {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return changed, nil
		}
		if err != nil {
			return changed, fmt.Errorf("read layer: %w", err)
		}
		name, ok := entryName(hdr.Name)
		if !ok {
			skipUnsafe(log, hdr.Name, "path leaves the image root")
			continue
		}
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			if err := clearDir(root, dir); err != nil {
				skipUnsafe(log, hdr.Name, err.Error())
			}
			changed = true
			continue
		}
		if target, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := root.RemoveAll(path.Join(dir, target)); err != nil {
				skipUnsafe(log, hdr.Name, err.Error())
			}
			changed = true
			continue
		}
		var werr error
		switch hdr.Typeflag {
		case tar.TypeDir:
			werr = root.MkdirAll(name, 0o755)
		case tar.TypeReg:
			if !want(name, hdr.FileInfo()) {
				continue
			}
			if hdr.Size > maxExtractedFile {
				log.Warn("scan: file too large to inspect; skipped", "file", name, "bytes", hdr.Size)
				continue
			}
			werr = writeFile(root, name, tr)
			changed = changed || werr == nil
		case tar.TypeSymlink:
			werr = replace(root, name, func() error { return root.Symlink(linkTarget(name, hdr.Linkname), name) })
		case tar.TypeLink:
			target, ok := entryName(hdr.Linkname)
			if !ok {
				skipUnsafe(log, hdr.Name, "hard link target leaves the image root")
				continue
			}
			if !want(name, hdr.FileInfo()) {
				continue
			}
			if _, err := root.Lstat(target); err != nil {
				continue // the target was not unpacked
			}
			werr = replace(root, name, func() error { return root.Link(target, name) })
			changed = changed || werr == nil
		default:
			continue // devices, FIFOs: nothing to inventory
		}
		if werr != nil {
			// os.Root refuses paths that resolve outside the root; that is
			// a hostile or broken layer, not a reason to stop the scan.
			skipUnsafe(log, hdr.Name, werr.Error())
		}
	}
}

// entryName cleans a tar entry name to a slash path relative to the image
// root. It refuses absolute escapes and ".." components.
func entryName(n string) (string, bool) {
	n = strings.TrimPrefix(n, "./")
	n = strings.TrimLeft(n, "/")
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", false
		}
	}
	c := path.Clean(n)
	if c == "." {
		return "", true
	}
	return c, true
}

// linkTarget rewrites an absolute symbolic link target as a path relative
// to the link, so that it resolves inside the image root rather than on the
// host. Relative targets are kept; os.Root refuses to follow any that
// climb out of the root.
func linkTarget(name, target string) string {
	if !path.IsAbs(target) {
		return target
	}
	rel, err := filepath.Rel(path.Dir("/"+name), path.Clean(target))
	if err != nil {
		return target
	}
	return filepath.ToSlash(rel)
}

func writeFile(root *os.Root, name string, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	return replace(root, name, func() error {
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, io.LimitReader(r, maxExtractedFile)); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// replace removes whatever an earlier layer left at name, then creates the
// new entry.
func replace(root *os.Root, name string, create func() error) error {
	// Most entries are new and their directory exists (an Alpine busybox
	// layer is hundreds of symlinks): try that first, and only on "exists"
	// or "no such directory" make the directory and clear the name.
	err := create()
	if err == nil || !errors.Is(err, fs.ErrExist) && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if err := root.RemoveAll(name); err != nil {
		return err
	}
	return create()
}

// clearDir removes the contents of dir (an opaque whiteout).
func clearDir(root *os.Root, dir string) error {
	if dir == "" {
		dir = "."
	}
	entries, err := fs.ReadDir(root.FS(), dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := root.RemoveAll(path.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func skipUnsafe(log *slog.Logger, name, reason string) {
	imageUnsafeEntries.Inc()
	log.Warn("scan: image layer entry skipped", "entry", name, "reason", reason)
}

// tarFileAPI presents a tar entry to an extractor's FileRequired.
type tarFileAPI struct {
	path string
	info fs.FileInfo
}

var _ filesystem.FileAPI = tarFileAPI{}

func (a tarFileAPI) Path() string               { return a.path }
func (a tarFileAPI) Stat() (fs.FileInfo, error) { return a.info, nil }
