// Package tail follows JSON-lines files — apiserver audit logs
// (--audit-log-path) and Tetragon export files — and feeds every new line
// to the detection engine. It polls (no inotify needed) and survives
// rotation by rename (the old file is drained, then the new one is read
// from its start) and truncation (reading restarts at offset 0).
package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
)

// Processor evaluates events and publishes their detections;
// *detect.Pipeline implements it.
type Processor interface {
	Process(ctx context.Context, events []*event.Event) ([]detect.Detection, error)
}

// MaxLineSize bounds one line; longer lines are skipped and counted as
// too large.
const MaxLineSize = 4 << 20

// Options configure a Tailer.
type Options struct {
	// Path is the file to follow.
	Path string
	// Source is the event source, or detect.AutoSource to recognise each
	// line by its shape.
	Source string
	// Poll is the polling interval (default 250ms).
	Poll time.Duration
	// FromStart reads the file from the beginning when it is first opened;
	// by default only lines appended afterwards are read.
	FromStart bool
	// Logger receives warnings about skipped lines; nil discards them.
	Logger *slog.Logger
}

// Tailer follows one file.
type Tailer struct {
	opts Options
	proc Processor
	dec  event.Decoder

	f       *os.File
	info    os.FileInfo
	offset  int64
	partial []byte
	skip    bool // discarding the rest of an over-long line
	buf     []byte
	started bool // the file was opened once (later opens read from the start)
	// tailMark holds the last bytes before offset, to notice a file that
	// was truncated and rewritten past the old offset between two polls.
	tailMark []byte
}

// New returns a Tailer feeding proc.
func New(proc Processor, opts Options) *Tailer {
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tailer{opts: opts, proc: proc, buf: make([]byte, 64<<10), tailMark: make([]byte, 0, markSize)}
}

// Run follows the file until ctx is cancelled (it then returns nil) or a
// Processor call fails (it returns that error; the line is not lost: Run
// can be called again and retries it). Call Close when done.
func (t *Tailer) Run(ctx context.Context) error {
	for {
		if err := t.Poll(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(t.opts.Poll):
		}
	}
}

// Close releases the open file.
func (t *Tailer) Close() error {
	t.close()
	return nil
}

func (t *Tailer) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// Poll reads what was appended since the last call, handling rotation and
// truncation. It is exported for callers that drive the polling loop
// themselves (tests, one-shot catch-up).
func (t *Tailer) Poll(ctx context.Context) error {
	if t.f == nil {
		atEnd := !t.started && !t.opts.FromStart
		if err := t.open(atEnd); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // not created yet: wait
			}
			return err
		}
	}
	// Truncated in place: start over.
	if t.truncated() {
		t.opts.Logger.Info("file truncated, reading from the start", "path", t.opts.Path)
		t.offset, t.partial, t.skip, t.tailMark = 0, t.partial[:0], false, t.tailMark[:0]
	}
	if err := t.drain(ctx); err != nil {
		return err
	}
	// Rotated (renamed away and recreated, or removed): the old file is
	// drained above; switch to the new one.
	st, err := os.Stat(t.opts.Path)
	if err != nil || !os.SameFile(st, t.info) {
		if err == nil || errors.Is(err, os.ErrNotExist) {
			t.opts.Logger.Info("file rotated", "path", t.opts.Path)
			t.close()
			t.offset, t.partial, t.skip, t.tailMark = 0, t.partial[:0], false, t.tailMark[:0]
			if err == nil {
				if err := t.open(false); err != nil {
					return err
				}
				return t.drain(ctx)
			}
			return nil
		}
		return fmt.Errorf("tail %s: %w", t.opts.Path, err)
	}
	return nil
}

func (t *Tailer) open(atEnd bool) error {
	f, err := os.Open(t.opts.Path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("tail %s: %w", t.opts.Path, err)
	}
	t.f, t.info, t.offset, t.started = f, st, 0, true
	t.tailMark = t.tailMark[:0]
	if atEnd {
		t.offset = st.Size()
		t.remember()
	}
	return nil
}

const markSize = 64

// remember records the bytes just before the offset.
func (t *Tailer) remember() {
	n := int64(markSize)
	if t.offset < n {
		n = t.offset
	}
	t.tailMark = t.tailMark[:n]
	if n > 0 {
		if _, err := t.f.ReadAt(t.tailMark, t.offset-n); err != nil {
			t.tailMark = t.tailMark[:0]
		}
	}
}

// truncated reports whether the open file is shorter than the offset or
// no longer holds the bytes read last before it.
func (t *Tailer) truncated() bool {
	st, err := t.f.Stat()
	if err != nil || t.offset == 0 {
		return false
	}
	if st.Size() < t.offset {
		return true
	}
	if len(t.tailMark) == 0 {
		return false
	}
	var buf [markSize]byte
	n := len(t.tailMark)
	if _, err := t.f.ReadAt(buf[:n], t.offset-int64(n)); err != nil {
		return true
	}
	return !bytes.Equal(buf[:n], t.tailMark)
}

// drain reads from the current offset to the end of the open file.
func (t *Tailer) drain(ctx context.Context) error {
	for {
		n, err := t.f.ReadAt(t.buf, t.offset)
		if n > 0 {
			if perr := t.consume(ctx, t.buf[:n]); perr != nil {
				return perr
			}
		}
		if errors.Is(err, io.EOF) || n == 0 {
			t.remember()
			return nil
		}
		if err != nil {
			return fmt.Errorf("tail %s: %w", t.opts.Path, err)
		}
	}
}

// consume splits data into lines and processes the complete ones. The
// offset advances past a line only once it was processed.
func (t *Tailer) consume(ctx context.Context, data []byte) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !t.skip {
				t.partial = append(t.partial, data...)
				if len(t.partial) > MaxLineSize {
					t.tooLong()
				}
			}
			t.offset += int64(len(data))
			return nil
		}
		line := data[:i]
		if !t.skip {
			if len(t.partial) > 0 {
				line = append(t.partial, line...)
			}
			if len(line) > MaxLineSize {
				t.tooLong()
			} else if err := t.process(ctx, line); err != nil {
				return err
			}
		}
		t.partial, t.skip = t.partial[:0], false
		t.offset += int64(i + 1)
		data = data[i+1:]
	}
	return nil
}

func (t *Tailer) tooLong() {
	detect.CountMalformed(detect.ReasonTooLarge)
	t.opts.Logger.Warn("line skipped: longer than the limit", "path", t.opts.Path, "limit", MaxLineSize)
	t.partial, t.skip = t.partial[:0], true
}

func (t *Tailer) process(ctx context.Context, line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	events, errs := detect.Decode(&t.dec, line, t.opts.Source)
	for _, err := range errs {
		t.opts.Logger.Warn("line skipped", "path", t.opts.Path, "offset", t.offset, "error", err)
	}
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		// The line buffer is reused: keep the event's own copy.
		e.SetRaw(append([]byte(nil), e.Raw()...))
	}
	if _, err := t.proc.Process(ctx, events); err != nil {
		return fmt.Errorf("tail %s: %w", t.opts.Path, err)
	}
	return nil
}
