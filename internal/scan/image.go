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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/osv-scalibr/extractor/filesystem"
)

// maxExtractedFile bounds the size of one file unpacked from an image
// layer; package databases are far smaller.
const maxExtractedFile = 512 << 20

// osReleaseFiles are unpacked from every layer even though no extractor
// asks for them: the OS package extractors read them to name the
// distribution release (the "v3.10" of "Alpine:v3.10").
var osReleaseFiles = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// ImageInventory lists the packages of the image that source names: a
// registry reference (repo:tag or repo@digest, pulled with opts' keychain
// and platform), a `docker save` archive (tar or tar.gz), an OCI image
// layout directory, or a tar (or tar.gz) of one. The layers are streamed
// in order, one at a time, into a private scratch directory: only the
// files an extractor needs (and os-release) are written, every write goes
// through an os.Root, so entries that try to leave the root ("../x", links
// to absolute or escaping targets, hard links through symbolic links) can
// not touch the host; such entries are skipped, logged and counted.
// Whiteouts (".wh.x", ".wh..wh..opq") delete what earlier layers added.
// Each package is attributed to the diff ID of the layer that added it.
// An image whose layers decompress to more than opts.Limits allow is
// refused with an error wrapping ErrUnpackLimit.
func ImageInventory(ctx context.Context, source string, opts ImageOptions) ([]Package, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	scratch, err := os.MkdirTemp("", "kubeward-image-")
	if err != nil {
		return nil, fmt.Errorf("scan image %s: scratch directory: %w", source, err)
	}
	defer os.RemoveAll(scratch)

	src, err := openImage(ctx, source, scratch, opts)
	if err != nil {
		return nil, fmt.Errorf("scan image: %w", err)
	}
	pkgs, err := inventoryImage(ctx, src.img, scratch, opts.Limits.withDefaults(), opts.LayerProgress, log.With("image", source, "source", string(src.kind)))
	if err != nil {
		return nil, fmt.Errorf("scan image %s: %w", source, err)
	}
	inventoryPackages.Add(float64(len(pkgs)))
	return pkgs, nil
}

// ScanImage is the single entry point for scanning an image source (see
// ImageInventory for what source may be): it lists the image's packages
// and matches them with m. Callers other than the CLI (the scans API)
// should use it, with opts.Offline set where the process must not reach
// registries.
func ScanImage(ctx context.Context, source string, m *Matcher, opts ImageOptions) (Report, error) {
	pkgs, err := ImageInventory(ctx, source, opts)
	if err != nil {
		return Report{}, err
	}
	findings, err := m.Match(ctx, pkgs)
	if err != nil {
		return Report{}, fmt.Errorf("scan image %s: %w", source, err)
	}
	return Report{Packages: pkgs, Findings: findings}, nil
}

// inventoryImage applies the layers of img in order to a root under
// scratch and inventories the root after every layer that changed a
// wanted file, so each package is attributed to the first layer it
// appears in.
func inventoryImage(ctx context.Context, img v1.Image, scratch string, limits UnpackLimits, progress func(int, int, string, int64) io.Writer, log *slog.Logger) ([]Package, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read layers: %w", err)
	}
	rootDir := filepath.Join(scratch, "rootfs")
	if err := os.Mkdir(rootDir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	exs, err := extractors()
	if err != nil {
		return nil, err
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

	budget := newUnpackBudget(limits)
	addedBy := map[packageKey]string{}
	var pkgs []Package
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", diffID, err)
		}
		var r io.Reader = rc
		if progress != nil {
			size, err := l.Size()
			if err != nil {
				size = -1
			}
			r = io.TeeReader(rc, progress(i, len(layers), diffID.String(), size))
		}
		changed, err := applyLayer(ctx, root, budget.reader(r), want, budget, log.With("layer", diffID.String()))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", diffID, err)
		}
		if !changed && i > 0 {
			continue
		}
		if pkgs, err = inventoryRoot(ctx, root, log); err != nil {
			return nil, fmt.Errorf("layer %s: %w", diffID, err)
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
func applyLayer(ctx context.Context, root *os.Root, r io.Reader, want func(string, fs.FileInfo) bool, budget *unpackBudget, log *slog.Logger) (changed bool, err error) {
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
		if err := budget.entry(); err != nil {
			return changed, err
		}
		name, ok := entryName(hdr.Name)
		if !ok {
			skipUnsafe(log, hdr.Name, reasonTraversal, "path leaves the image root")
			continue
		}
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			if err := clearDir(root, dir); err != nil {
				skipUnsafe(log, hdr.Name, reasonUnwritable, err.Error())
			}
			changed = true
			continue
		}
		if target, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := root.RemoveAll(path.Join(dir, target)); err != nil {
				skipUnsafe(log, hdr.Name, reasonUnwritable, err.Error())
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
			// Count what is written too: a sparse entry expands to
			// more bytes than the layer stream carries.
			werr = writeFile(root, name, budget.reader(tr))
			if errors.Is(werr, ErrUnpackLimit) {
				return changed, werr
			}
			changed = changed || werr == nil
		case tar.TypeSymlink:
			werr = replace(root, name, func() error { return root.Symlink(linkTarget(name, hdr.Linkname), name) })
		case tar.TypeLink:
			target, ok := entryName(hdr.Linkname)
			if !ok || target == "" {
				skipUnsafe(log, hdr.Name, reasonHardLink, "hard link target leaves the image root")
				continue
			}
			if !want(name, hdr.FileInfo()) {
				continue
			}
			if err := linkableTarget(root, name, target); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					skipUnsafe(log, hdr.Name, reasonHardLink, err.Error())
				}
				continue // refused, or the target was not unpacked
			}
			werr = replace(root, name, func() error { return root.Link(target, name) })
			changed = changed || werr == nil
		default:
			continue // devices, FIFOs: nothing to inventory
		}
		if werr != nil {
			// os.Root refuses paths that resolve outside the root; that is
			// a hostile or broken layer, not a reason to stop the scan.
			skipUnsafe(log, hdr.Name, reasonUnwritable, werr.Error())
		}
	}
}

// linkableTarget refuses hard-link tricks: a link to itself, to anything
// but a regular file (a directory, a symbolic link, a device), or to a
// path that passes through a symbolic link (which could lead the link to a
// file the layer does not own). It returns an error wrapping
// fs.ErrNotExist when the target was simply not unpacked.
func linkableTarget(root *os.Root, name, target string) error {
	if target == name {
		return errors.New("hard link to itself")
	}
	parts := strings.Split(target, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := root.Lstat(p)
		if err != nil {
			return err
		}
		last := i == len(parts)-1
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("hard link target %s passes through the symbolic link %s", target, p)
		case last && !fi.Mode().IsRegular():
			return fmt.Errorf("hard link target %s is not a regular file (%s)", target, fi.Mode().Type())
		}
	}
	return nil
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

// Reasons an image entry is refused, the label of
// kubeward_scan_image_unsafe_entries_total.
const (
	reasonTraversal  = "traversal"
	reasonHardLink   = "hardlink"
	reasonUnwritable = "unwritable"
)

func skipUnsafe(log *slog.Logger, name, reason, detail string) {
	imageUnsafeEntries.WithLabelValues(reason).Inc()
	if log == nil {
		log = slog.Default()
	}
	log.Warn("scan: image layer entry skipped", "entry", name, "reason", reason, "detail", detail)
}

// tarFileAPI presents a tar entry to an extractor's FileRequired.
type tarFileAPI struct {
	path string
	info fs.FileInfo
}

var _ filesystem.FileAPI = tarFileAPI{}

func (a tarFileAPI) Path() string               { return a.path }
func (a tarFileAPI) Stat() (fs.FileInfo, error) { return a.info, nil }
