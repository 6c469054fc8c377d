package archive

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
)

// walker carries the state of one Walk: limits, the callback and the
// uncompressed bytes read so far.
type walker struct {
	ctx   context.Context
	opts  Options
	fn    Func
	total int64
}

func newWalker(ctx context.Context, opts Options, fn Func) *walker {
	return &walker{ctx: ctx, opts: opts.WithDefaults(), fn: fn}
}

// walkPath dispatches on what p is. The top-level path is the operator's
// choice, so a symlink there is followed; links inside a tree are not.
func (w *walker) walkPath(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("archive: cannot read input %s: %w", p, err)
	}
	if fi.IsDir() {
		return w.walkDir(p)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("archive: input %s is not a regular file or directory: %w", p, ErrSpecialFile)
	}
	return w.walkFile(p, filepath.Base(p), filepath.Base(p), fi.Size(), 1, true)
}

// walkFile reads the regular file at p. explicit is true when the operator
// named the file, which selects it even when Match does not.
func (w *walker) walkFile(p, name, container string, size int64, depth int, explicit bool) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("archive: cannot open %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	format := w.detect(io.NewSectionReader(f, 0, size), name)
	if format == FormatFile {
		if !explicit && !w.opts.Match(name) {
			return nil
		}
		return w.emitReader(f, name, container, size)
	}
	return w.walkArchive(io.NewSectionReader(f, 0, size), container, format, depth)
}

// detect sniffs the format of ra from its first bytes, then its name.
func (w *walker) detect(ra io.ReaderAt, name string) Format {
	head := make([]byte, 512)
	n, _ := ra.ReadAt(head, 0)
	if f := formatFromMagic(head[:n]); f != FormatAuto {
		return f
	}
	return formatFromName(name)
}

func (w *walker) walkDir(root string) error {
	entries := 0
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("archive: cannot read directory tree %s: %w", root, err)
		}
		if cerr := w.ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() {
			return nil
		}
		entries++
		if entries > w.opts.MaxEntries {
			return archiveError(root, ErrTooManyEntries, "more than %d files", w.opts.MaxEntries)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return fmt.Errorf("archive: %s is outside %s: %w", p, root, err)
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return w.fn(Entry{Name: rel, Container: root, Err: entryError(rel, ErrLink, "symbolic link in directory tree")})
		case !t.IsRegular():
			return w.fn(Entry{Name: rel, Container: root, Err: entryError(rel, ErrSpecialFile, "file mode %v", t)})
		}
		if !isArchiveName(rel) && !w.opts.Match(rel) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("archive: cannot stat %s: %w", p, err)
		}
		if isArchiveName(rel) {
			return w.walkFile(p, rel, root+"/"+rel, fi.Size(), 1, false)
		}
		return w.walkFile(p, rel, root, fi.Size(), 1, false)
	})
}

// walkReader reads an archive from a plain reader.
func (w *walker) walkReader(r io.Reader, name string, format Format, depth int) error {
	if format == FormatDir {
		return fmt.Errorf("archive: %s: a directory cannot be read from a stream; use Walk with its path", name)
	}
	if format == FormatAuto {
		br := bufio.NewReaderSize(r, 4096)
		head, _ := br.Peek(512)
		format = formatFromMagic(head)
		if format == FormatAuto {
			format = formatFromName(name)
		}
		r = br
	}
	if format == FormatFile {
		return w.emitReader(r, name, "", -1)
	}
	if format == FormatZip {
		if ra, ok := r.(interface {
			io.ReaderAt
			Size() int64
		}); ok {
			return w.walkArchive(io.NewSectionReader(ra, 0, ra.Size()), name, format, depth)
		}
		return w.spoolAndWalk(r, name, name, depth)
	}
	return w.walkStream(r, name, format, depth)
}

// walkArchive walks an archive available through io.ReaderAt.
func (w *walker) walkArchive(sr *io.SectionReader, container string, format Format, depth int) error {
	if depth > w.opts.MaxDepth {
		return archiveError(container, ErrNestingTooDeep, "more than %d levels of archives", w.opts.MaxDepth)
	}
	if format == FormatZip {
		return w.walkZip(sr, container, depth)
	}
	return w.walkStream(sr, container, format, depth)
}

// walkStream walks a tar or tar.gz stream.
func (w *walker) walkStream(r io.Reader, container string, format Format, depth int) error {
	if depth > w.opts.MaxDepth {
		return archiveError(container, ErrNestingTooDeep, "more than %d levels of archives", w.opts.MaxDepth)
	}
	switch format {
	case FormatTar:
		return w.walkTar(r, container, depth)
	case FormatTarGzip:
		in := &countingReader{r: r}
		zr, err := gzip.NewReader(in)
		if err != nil {
			return archiveError(container, ErrCorrupt, "gzip header: %v", err)
		}
		// Read side only: a Close error cannot lose data, and corruption is
		// reported by Read.
		defer func() { _ = zr.Close() }()
		return w.walkTar(&ratioReader{r: zr, in: in, w: w, container: container}, container, depth)
	default:
		return archiveError(container, ErrUnknownFormat, "format %v", format)
	}
}

func (w *walker) walkZip(sr *io.SectionReader, container string, depth int) error {
	zr, err := zip.NewReader(sr, sr.Size())
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return archiveError(container, ErrCorrupt, "zip central directory: %v", err)
	}
	zr.RegisterDecompressor(zip.Deflate, newFlateReader)
	if len(zr.File) > w.opts.MaxEntries {
		return archiveError(container, ErrTooManyEntries, "%d entries, limit %d", len(zr.File), w.opts.MaxEntries)
	}
	// Zip bomb check from the central directory, before inflating anything.
	var claimed uint64
	for _, f := range zr.File {
		claimed += f.UncompressedSize64
		if claimed < f.UncompressedSize64 || claimed > uint64(w.opts.MaxTotalSize) {
			return archiveError(container, ErrTotalTooLarge, "headers claim more than %d bytes uncompressed", w.opts.MaxTotalSize)
		}
	}
	if w.total+int64(claimed) > w.opts.MaxTotalSize {
		return archiveError(container, ErrTotalTooLarge, "headers claim %d bytes on top of %d already read, limit %d", claimed, w.total, w.opts.MaxTotalSize)
	}
	if err := w.checkRatio(container, int64(claimed), sr.Size()); err != nil {
		return err
	}
	var inflated int64
	for _, f := range zr.File {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		n, err := w.zipEntry(f, container, depth)
		if err != nil {
			return err
		}
		// Headers may understate sizes: check the ratio on what was read.
		inflated += n
		if err := w.checkRatio(container, inflated, sr.Size()); err != nil {
			return err
		}
	}
	return nil
}

// zipEntry handles one zip entry and returns how many bytes it inflated.
func (w *walker) zipEntry(f *zip.File, container string, depth int) (int64, error) {
	name, err := cleanName(f.Name)
	if err != nil {
		return 0, w.fn(Entry{Name: f.Name, Container: container, Err: entryError(f.Name, ErrUnsafePath, "%v", err)})
	}
	mode := f.Mode()
	switch {
	case mode.IsDir():
		return 0, nil
	case mode&fs.ModeSymlink != 0:
		return 0, w.fn(Entry{Name: name, Container: container, Err: entryError(name, ErrLink, "symbolic link")})
	case !mode.IsRegular():
		return 0, w.fn(Entry{Name: name, Container: container, Err: entryError(name, ErrSpecialFile, "file mode %v", mode.Type())})
	}
	if isArchiveName(name) {
		if depth+1 > w.opts.MaxDepth {
			return 0, archiveError(container+"!"+name, ErrNestingTooDeep, "more than %d levels of archives", w.opts.MaxDepth)
		}
		rc, err := f.Open()
		if err != nil {
			return 0, archiveError(container+"!"+name, ErrCorrupt, "open nested archive: %v", err)
		}
		defer func() { _ = rc.Close() }() // read-only; checksum errors surface on Read
		cr := &countingReader{r: rc}
		err = w.spoolAndWalk(cr, name, container+"!"+name, depth+1)
		return cr.n, err
	}
	if !w.opts.Match(name) {
		return 0, nil
	}
	if f.UncompressedSize64 > uint64(w.opts.MaxEntrySize) {
		return 0, w.fn(Entry{Name: name, Container: container, Err: entryError(name, ErrEntryTooLarge,
			"header declares %d bytes, limit %d", f.UncompressedSize64, w.opts.MaxEntrySize)})
	}
	rc, err := f.Open()
	if err != nil {
		return 0, w.fn(Entry{Name: name, Container: container, Err: entryError(name, ErrEntryCorrupt, "%v", err)})
	}
	defer func() { _ = rc.Close() }() // read-only; checksum errors surface on Read
	data, n, err := w.readEntry(rc, name, container, int64(f.UncompressedSize64))
	if err != nil {
		var ee *EntryError
		if errors.As(err, &ee) {
			return n, w.fn(Entry{Name: name, Container: container, Err: err})
		}
		return n, err
	}
	return n, w.fn(Entry{Name: name, Container: container, Data: data})
}

func (w *walker) walkTar(r io.Reader, container string, depth int) error {
	tr := tar.NewReader(r)
	for entries := 0; ; entries++ {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return w.streamError(container, "tar header", err)
		}
		if entries >= w.opts.MaxEntries {
			return archiveError(container, ErrTooManyEntries, "more than %d entries", w.opts.MaxEntries)
		}
		name, perr := cleanName(hdr.Name)
		if perr != nil {
			if err := w.fn(Entry{Name: hdr.Name, Container: container, Err: entryError(hdr.Name, ErrUnsafePath, "%v", perr)}); err != nil {
				return err
			}
			continue
		}
		var refuse error
		switch hdr.Typeflag {
		case tar.TypeReg: // the reader reports old-style TypeRegA entries as TypeReg
		case tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		case tar.TypeSymlink, tar.TypeLink:
			refuse = entryError(name, ErrLink, "link to %q", hdr.Linkname)
		default:
			refuse = entryError(name, ErrSpecialFile, "tar type %q", hdr.Typeflag)
		}
		if refuse != nil {
			if err := w.fn(Entry{Name: name, Container: container, Err: refuse}); err != nil {
				return err
			}
			continue
		}
		if isArchiveName(name) {
			nested := container + "!" + name
			if depth+1 > w.opts.MaxDepth {
				return archiveError(nested, ErrNestingTooDeep, "more than %d levels of archives", w.opts.MaxDepth)
			}
			if formatFromName(name) == FormatZip {
				if err := w.spoolAndWalk(tr, name, nested, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := w.walkStream(tr, nested, formatFromName(name), depth+1); err != nil {
				return err
			}
			continue
		}
		if !w.opts.Match(name) {
			continue
		}
		if hdr.Size > w.opts.MaxEntrySize {
			if err := w.fn(Entry{Name: name, Container: container, Err: entryError(name, ErrEntryTooLarge,
				"header declares %d bytes, limit %d", hdr.Size, w.opts.MaxEntrySize)}); err != nil {
				return err
			}
			continue
		}
		data, _, err := w.readEntry(tr, name, container, hdr.Size)
		if err != nil {
			var ee *EntryError
			if !errors.As(err, &ee) || errors.Is(err, ErrEntryCorrupt) {
				return w.streamError(container, "tar entry "+name, err)
			}
			if err := w.fn(Entry{Name: name, Container: container, Err: err}); err != nil {
				return err
			}
			continue
		}
		if err := w.fn(Entry{Name: name, Container: container, Data: data}); err != nil {
			return err
		}
	}
}

// streamError turns a read error of a tar stream into the walk's error:
// limit errors of ratioReader pass through, anything else means the stream
// is corrupt.
func (w *walker) streamError(container, what string, err error) error {
	if errors.Is(err, ErrTotalTooLarge) || errors.Is(err, ErrCompressionRatio) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return archiveError(container, ErrCorrupt, "%s: %v", what, err)
}

// readEntry reads one entry's data with the per-entry limit enforced while
// reading, and adds it to the walk's total. It returns the bytes read; the
// error is an *EntryError for a bad entry, ErrTotalTooLarge past the total
// limit, or the reader's error.
func (w *walker) readEntry(r io.Reader, name, container string, hint int64) ([]byte, int64, error) {
	var buf bytes.Buffer
	if hint > 0 {
		// Room for the declared size plus the read that sees EOF, so an
		// honest entry is read without growing the buffer. The declared
		// size is not trusted beyond 1 MiB.
		buf.Grow(int(min(hint, w.opts.MaxEntrySize, 1<<20)) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(r, w.opts.MaxEntrySize+1))
	w.total += n
	if w.total > w.opts.MaxTotalSize {
		return nil, n, archiveError(container, ErrTotalTooLarge, "read %d bytes, limit %d", w.total, w.opts.MaxTotalSize)
	}
	if err != nil {
		if errors.Is(err, ErrTotalTooLarge) || errors.Is(err, ErrCompressionRatio) {
			return nil, n, err
		}
		return nil, n, entryError(name, ErrEntryCorrupt, "%v", err)
	}
	if n > w.opts.MaxEntrySize {
		return nil, n, entryError(name, ErrEntryTooLarge, "more than %d bytes read (the header said %d)", w.opts.MaxEntrySize, hint)
	}
	return buf.Bytes(), n, nil
}

// emitReader hands a single non-archive file to the callback.
func (w *walker) emitReader(r io.Reader, name, container string, size int64) error {
	if size > w.opts.MaxEntrySize {
		return w.fn(Entry{Name: name, Container: container, Err: entryError(name, ErrEntryTooLarge,
			"file has %d bytes, limit %d", size, w.opts.MaxEntrySize)})
	}
	data, _, err := w.readEntry(r, name, container, size)
	if err != nil {
		var ee *EntryError
		if errors.As(err, &ee) {
			return w.fn(Entry{Name: name, Container: container, Err: err})
		}
		return fmt.Errorf("archive: reading %s: %w", name, err)
	}
	return w.fn(Entry{Name: name, Container: container, Data: data})
}

// spoolAndWalk copies an archive stream to a temporary file (zip needs
// random access) and walks it. The copy counts against MaxTotalSize.
func (w *walker) spoolAndWalk(r io.Reader, name, container string, depth int) error {
	if depth > w.opts.MaxDepth {
		return archiveError(container, ErrNestingTooDeep, "more than %d levels of archives", w.opts.MaxDepth)
	}
	tmp, err := os.CreateTemp(w.opts.TempDir, "kubeward-archive-*")
	if err != nil {
		return fmt.Errorf("archive: cannot create a temporary file to spool %s (set a writable TempDir): %w", container, err)
	}
	// Scratch file: nothing in it outlives the walk, so its Close and
	// Remove errors cannot affect the result.
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	left := w.opts.MaxTotalSize - w.total
	n, err := io.Copy(tmp, io.LimitReader(r, left+1))
	if err != nil {
		return w.streamError(container, "spooling nested archive", err)
	}
	if n > left {
		return archiveError(container, ErrTotalTooLarge, "nested archive larger than the %d bytes left of the limit", left)
	}
	w.total += n
	format := w.detect(tmp, name)
	if format == FormatFile {
		format = formatFromName(name)
	}
	return w.walkArchive(io.NewSectionReader(tmp, 0, n), container, format, depth)
}

// checkRatio fails when out bytes inflated from in compressed bytes exceed
// the compression ratio limit.
func (w *walker) checkRatio(container string, out, in int64) error {
	if out > ratioFloor && out/max(in, 1) > w.opts.MaxCompressionRatio {
		return archiveError(container, ErrCompressionRatio, "%d bytes inflate to %d (ratio above %d)", in, out, w.opts.MaxCompressionRatio)
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ratioReader reads a decompressed stream and fails as soon as it inflates
// beyond the compression ratio or the total size limit.
type ratioReader struct {
	r         io.Reader
	in        *countingReader
	out       int64
	w         *walker
	container string
	err       error
}

func (r *ratioReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	r.out += int64(n)
	if rerr := r.w.checkRatio(r.container, r.out, r.in.n); rerr != nil {
		r.err = rerr
		return n, rerr
	}
	if r.out > r.w.opts.MaxTotalSize {
		r.err = archiveError(r.container, ErrTotalTooLarge, "stream inflates past %d bytes", r.w.opts.MaxTotalSize)
		return n, r.err
	}
	return n, err
}
