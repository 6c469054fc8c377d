package hubble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Follower reads a file like `tail -F`: at its end it waits for more
// data instead of returning io.EOF, reopens the path when the file was
// replaced (rotation by rename) and starts over when it was truncated.
// Read returns io.EOF only once its context ends.
type Follower struct {
	ctx    context.Context
	path   string
	poll   time.Duration
	f      *os.File
	offset int64
}

// Follow opens path for following; poll is how often the end of the file
// is checked for new data (250ms when ≤ 0). Close the Follower when done.
func Follow(ctx context.Context, path string, poll time.Duration) (*Follower, error) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", path, err)
	}
	return &Follower{ctx: ctx, path: path, poll: poll, f: f}, nil
}

// Read implements io.Reader.
func (fl *Follower) Read(p []byte) (int, error) {
	for {
		n, err := fl.f.Read(p)
		fl.offset += int64(n)
		if n > 0 {
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("follow %s: %w", fl.path, err)
		}
		if err := fl.reopenIfMoved(); err != nil {
			return 0, err
		}
		select {
		case <-fl.ctx.Done():
			return 0, io.EOF
		case <-time.After(fl.poll):
		}
	}
}

// reopenIfMoved switches to a new file at path (rotation) or rewinds a
// truncated one. A path that vanished is waited for.
func (fl *Follower) reopenIfMoved() error {
	cur, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("follow %s: %w", fl.path, err)
	}
	next, err := os.Stat(fl.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("follow %s: %w", fl.path, err)
	}
	if !os.SameFile(cur, next) {
		f, err := os.Open(fl.path)
		if err != nil {
			return fmt.Errorf("follow %s: reopen after rotation: %w", fl.path, err)
		}
		fl.f.Close()
		fl.f, fl.offset = f, 0
		return nil
	}
	if cur.Size() < fl.offset {
		if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("follow %s: rewind after truncation: %w", fl.path, err)
		}
		fl.offset = 0
	}
	return nil
}

// Close closes the file.
func (fl *Follower) Close() error { return fl.f.Close() }
