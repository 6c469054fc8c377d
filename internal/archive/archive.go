// Package archive reads files (CVE records, or any JSON documents) out of a
// directory tree, a zip, a tar, a tar.gz or a single file, safely.
//
// Archives come from the network or from users and are not trusted. The
// reader streams: a zip is read through io.ReaderAt from its file (an
// io.Reader is spooled to a temporary file first), a tar or tar.gz is read
// in one pass, and nested archives (a zip inside a zip, as the cvelistV5
// baseline asset is published) are spooled to temporary files. The reader
// holds one entry's data in memory at a time; the callback decides what it
// keeps.
//
// Safety rules, each with its own errors.Is-able error and a count in
// kubeward_archive_rejected_entries_total{reason}:
//
//   - Entry names must be clean relative paths: no "..", no absolute paths,
//     no backslashes or drive letters (ErrUnsafePath).
//   - Symbolic and hard links (ErrLink) and devices, FIFOs and other special
//     files (ErrSpecialFile) are refused, never followed.
//   - An entry is at most MaxEntrySize bytes: checked against its header and
//     enforced while reading, because headers lie (ErrEntryTooLarge). A zip
//     entry that inflates to more than its header declares is refused as
//     corrupt (ErrEntryCorrupt) by archive/zip's own size check.
//
// Such an entry is handed to the callback with Entry.Err set and the walk
// continues. An archive that is unsafe as a whole fails the walk and is
// counted in kubeward_archive_rejected_archives_total{reason}: too much
// uncompressed data (ErrTotalTooLarge), a compression ratio typical of a zip
// bomb (ErrCompressionRatio, checked from the zip central directory before
// anything is inflated and again while reading), too many entries
// (ErrTooManyEntries), nesting too deep (ErrNestingTooDeep) or a structure
// that cannot be read (ErrCorrupt).
package archive

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
)

// Format names an input format.
type Format int

// Input formats.
const (
	// FormatAuto detects the format from the content's first bytes,
	// falling back to the name's extension.
	FormatAuto Format = iota
	// FormatDir is a directory tree; only Walk reads it.
	FormatDir
	// FormatZip is a zip archive.
	FormatZip
	// FormatTar is an uncompressed tar archive.
	FormatTar
	// FormatTarGzip is a gzip-compressed tar archive (.tar.gz, .tgz).
	FormatTarGzip
	// FormatFile is a single file handed over as one entry.
	FormatFile
)

// String returns the format's name.
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatDir:
		return "dir"
	case FormatZip:
		return "zip"
	case FormatTar:
		return "tar"
	case FormatTarGzip:
		return "tar.gz"
	case FormatFile:
		return "file"
	default:
		return fmt.Sprintf("Format(%d)", int(f))
	}
}

// Default limits.
const (
	DefaultMaxEntrySize        = 16 << 20
	DefaultMaxTotalSize        = 16 << 30
	DefaultMaxCompressionRatio = 100
	DefaultMaxEntries          = 2_000_000
	DefaultMaxDepth            = 3
	// ratioFloor is the uncompressed size under which the compression
	// ratio is not checked: tiny, very compressible archives are harmless.
	ratioFloor = 1 << 20
)

// Options bound what a walk accepts. Zero fields take the defaults.
type Options struct {
	// MaxEntrySize bounds one entry's uncompressed size (default 16 MiB).
	MaxEntrySize int64
	// MaxTotalSize bounds the uncompressed size of everything read from
	// one input, nested archives included (default 16 GiB).
	MaxTotalSize int64
	// MaxCompressionRatio bounds uncompressed/compressed size of an
	// archive (default 100; deflated JSON is typically 5–20).
	MaxCompressionRatio int64
	// MaxEntries bounds the number of entries of one archive (default
	// 2,000,000).
	MaxEntries int
	// MaxDepth bounds archive nesting: 1 reads no archive inside an
	// archive (default 3).
	MaxDepth int
	// Match selects the regular files handed to the callback by name;
	// nil selects names ending in ".json" (any case). Refused entries are
	// always handed over, whatever their name.
	Match func(name string) bool
	// TempDir is where nested archives and zip streams are spooled
	// (default os.TempDir()).
	TempDir string
}

// WithDefaults returns o with zero fields replaced by their defaults.
func (o Options) WithDefaults() Options {
	if o.MaxEntrySize <= 0 {
		o.MaxEntrySize = DefaultMaxEntrySize
	}
	if o.MaxTotalSize <= 0 {
		o.MaxTotalSize = DefaultMaxTotalSize
	}
	if o.MaxCompressionRatio <= 0 {
		o.MaxCompressionRatio = DefaultMaxCompressionRatio
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.Match == nil {
		o.Match = MatchJSON
	}
	return o
}

// MatchJSON selects names ending in ".json", ignoring case.
func MatchJSON(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".json")
}

// Entry is one file read from the input.
type Entry struct {
	// Name is the entry's path inside its innermost archive (or relative
	// to the walked directory), with forward slashes.
	Name string
	// Container names the input and the nested archives the entry came
	// from, joined with "!" (e.g. "2024-10-22_all_CVEs_at_midnight.zip.zip!cves.zip").
	Container string
	// Data is the entry's content; nil when Err is set.
	Data []byte
	// Err, when set, says why the entry was refused (an *EntryError
	// wrapping one of the entry errors of this package).
	Err error
}

// Func is called for every selected entry, in archive order. Returning an
// error stops the walk and Walk returns that error.
type Func func(Entry) error

// Walk reads the input at p (a directory, zip, tar, tar.gz or single file)
// and calls fn for every selected entry.
func Walk(ctx context.Context, p string, opts Options, fn Func) error {
	w := newWalker(ctx, opts, fn)
	return w.walkPath(p)
}

// WalkReader reads an archive of the given format from r and calls fn for
// every selected entry. name is used in entry containers and errors, and to
// detect the format when format is FormatAuto. A zip is spooled to a
// temporary file unless r is an io.ReaderAt with a Size method (such as
// *bytes.Reader or *io.SectionReader).
func WalkReader(ctx context.Context, r io.Reader, name string, format Format, opts Options, fn Func) error {
	w := newWalker(ctx, opts, fn)
	return w.walkReader(r, name, format, 1)
}

// cleanName checks that an archive entry name is a clean relative path and
// returns it without a trailing slash.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("empty name")
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("name contains a NUL byte")
	case strings.Contains(name, `\`):
		return "", fmt.Errorf("name contains a backslash")
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("absolute path")
	case len(name) >= 2 && name[1] == ':' && isLetter(name[0]):
		return "", fmt.Errorf("drive letter")
	}
	trimmed := strings.TrimSuffix(name, "/")
	for _, elem := range strings.Split(trimmed, "/") {
		if elem == ".." {
			return "", fmt.Errorf("path climbs out of the archive with \"..\"")
		}
	}
	clean := path.Clean(trimmed)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("name does not name a file inside the archive")
	}
	return clean, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isArchiveName reports whether an entry name looks like a nested archive.
func isArchiveName(name string) bool {
	n := strings.ToLower(name)
	for _, ext := range []string{".zip", ".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}

// formatFromName guesses a format from a file name.
func formatFromName(name string) Format {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".zip"):
		return FormatZip
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return FormatTarGzip
	case strings.HasSuffix(n, ".tar"):
		return FormatTar
	default:
		return FormatFile
	}
}

// formatFromMagic detects a format from the first bytes of the content, or
// returns FormatAuto when they say nothing.
func formatFromMagic(head []byte) Format {
	switch {
	case len(head) >= 4 && string(head[:4]) == "PK\x03\x04",
		len(head) >= 4 && string(head[:4]) == "PK\x05\x06":
		return FormatZip
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return FormatTarGzip
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return FormatTar
	default:
		return FormatAuto
	}
}
