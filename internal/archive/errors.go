package archive

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Errors reported for single entries. The walk goes on after them; the entry
// is handed to the callback with Entry.Err wrapping one of these (test with
// errors.Is).
var (
	// ErrUnsafePath: the entry name is absolute, climbs out of the archive
	// ("../"), uses backslashes or a drive letter, or is otherwise not a
	// clean relative path.
	ErrUnsafePath = errors.New("unsafe entry path")
	// ErrLink: the entry is a symbolic or hard link; links are never
	// followed.
	ErrLink = errors.New("link entry")
	// ErrSpecialFile: the entry is a device, FIFO, socket or another
	// non-regular file.
	ErrSpecialFile = errors.New("special file entry")
	// ErrEntryTooLarge: the entry's size, declared or actually read, is
	// above Options.MaxEntrySize.
	ErrEntryTooLarge = errors.New("entry too large")
	// ErrEntryCorrupt: the entry could not be read (bad checksum,
	// unsupported compression method, truncated data).
	ErrEntryCorrupt = errors.New("corrupt entry")
)

// Errors that fail the whole walk: the archive as a whole is unsafe or
// unreadable.
var (
	// ErrTotalTooLarge: the archive's uncompressed content, declared or
	// actually read, is above Options.MaxTotalSize.
	ErrTotalTooLarge = errors.New("archive uncompressed size above limit")
	// ErrCompressionRatio: the archive inflates more than
	// Options.MaxCompressionRatio times its compressed size (a zip bomb).
	ErrCompressionRatio = errors.New("archive compression ratio above limit")
	// ErrTooManyEntries: the archive holds more than Options.MaxEntries
	// entries.
	ErrTooManyEntries = errors.New("archive has too many entries")
	// ErrNestingTooDeep: archives are nested deeper than Options.MaxDepth.
	ErrNestingTooDeep = errors.New("archives nested too deeply")
	// ErrCorrupt: the archive's structure (zip central directory, tar
	// headers, gzip stream) cannot be read.
	ErrCorrupt = errors.New("corrupt archive")
	// ErrUnknownFormat: the input is neither a directory, zip, tar,
	// tar.gz nor JSON file.
	ErrUnknownFormat = errors.New("unknown archive format")
)

var reasons = []struct {
	err    error
	reason string
}{
	{ErrUnsafePath, "unsafe_path"},
	{ErrLink, "link"},
	{ErrSpecialFile, "special_file"},
	{ErrEntryTooLarge, "entry_too_large"},
	{ErrEntryCorrupt, "entry_corrupt"},
	{ErrTotalTooLarge, "total_too_large"},
	{ErrCompressionRatio, "compression_ratio"},
	{ErrTooManyEntries, "too_many_entries"},
	{ErrNestingTooDeep, "nesting_too_deep"},
	{ErrCorrupt, "corrupt_archive"},
	{ErrUnknownFormat, "unknown_format"},
}

// Reason returns a short, metric-label-safe reason for an error of this
// package ("unsafe_path", "link", "entry_too_large", …), or "other".
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}

var (
	rejectedEntries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_archive_rejected_entries_total",
		Help: "Archive entries refused by the safe archive reader, by reason.",
	}, []string{"reason"})
	rejectedArchives = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_archive_rejected_archives_total",
		Help: "Whole archives refused by the safe archive reader (bombs, corrupt structure), by reason.",
	}, []string{"reason"})
)

// EntryError describes why one entry was refused.
type EntryError struct {
	// Name is the entry's name as stored in the archive.
	Name string
	// Detail says what exactly was wrong.
	Detail string
	// Err is one of the entry errors of this package.
	Err error
}

// Error implements error.
func (e *EntryError) Error() string {
	return fmt.Sprintf("archive entry %q refused: %v: %s", e.Name, e.Err, e.Detail)
}

// Unwrap returns the sentinel error.
func (e *EntryError) Unwrap() error { return e.Err }

func entryError(name string, sentinel error, format string, args ...any) *EntryError {
	rejectedEntries.WithLabelValues(Reason(sentinel)).Inc()
	return &EntryError{Name: name, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// archiveError builds the error that fails a walk and counts it.
func archiveError(source string, sentinel error, format string, args ...any) error {
	rejectedArchives.WithLabelValues(Reason(sentinel)).Inc()
	return fmt.Errorf("archive %s refused: %w: %s", source, sentinel, fmt.Sprintf(format, args...))
}
