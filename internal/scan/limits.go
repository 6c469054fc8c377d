package scan

import (
	"errors"
	"fmt"
	"io"
)

// ErrUnpackLimit is wrapped by the error returned when an image's layers
// decompress to more bytes or hold more entries than UnpackLimits allow: a
// decompression bomb, or an image larger than the limits were set for.
var ErrUnpackLimit = errors.New("image exceeds the unpack limits")

// UnpackLimits bound the work one image may cause, summed over all its
// layers (and over the files of an OCI layout archive).
type UnpackLimits struct {
	// MaxBytes bounds the uncompressed bytes read from layer streams.
	MaxBytes int64
	// MaxFiles bounds the number of layer entries (files, directories,
	// links, whiteouts).
	MaxFiles int64
}

// DefaultUnpackLimits are the limits a zero UnpackLimits field takes:
// 16 GiB and two million entries, several times the largest images in
// common use, while a gzip bomb of a few megabytes that inflates to
// terabytes is stopped early.
var DefaultUnpackLimits = UnpackLimits{MaxBytes: 16 << 30, MaxFiles: 2_000_000}

func (l UnpackLimits) withDefaults() UnpackLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultUnpackLimits.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultUnpackLimits.MaxFiles
	}
	return l
}

// unpackBudget counts bytes and entries against UnpackLimits.
type unpackBudget struct {
	limits       UnpackLimits
	bytes, files int64
}

func newUnpackBudget(l UnpackLimits) *unpackBudget { return &unpackBudget{limits: l.withDefaults()} }

// entry counts one more archive entry.
func (b *unpackBudget) entry() error {
	b.files++
	if b.files > b.limits.MaxFiles {
		imageLimitExceeded.WithLabelValues("files").Inc()
		return fmt.Errorf("%w: more than %d entries (raise --max-image-files if the image is genuine)", ErrUnpackLimit, b.limits.MaxFiles)
	}
	return nil
}

// take counts n more uncompressed bytes.
func (b *unpackBudget) take(n int64) error {
	b.bytes += n
	if b.bytes > b.limits.MaxBytes {
		imageLimitExceeded.WithLabelValues("bytes").Inc()
		return fmt.Errorf("%w: more than %d uncompressed bytes (raise --max-image-bytes if the image is genuine)", ErrUnpackLimit, b.limits.MaxBytes)
	}
	return nil
}

// reader counts what is read from r against the byte limit and fails the
// read that crosses it.
func (b *unpackBudget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *unpackBudget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if lerr := br.b.take(int64(n)); lerr != nil {
		return n, lerr
	}
	return n, err
}
