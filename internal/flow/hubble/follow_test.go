package hubble

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFollow appends to, truncates and rotates a followed file and checks
// that every line is read once, then that cancelling ends the reading.
func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.jsonl")
	if err := os.WriteFile(path, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	fl, err := Follow(ctx, path, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(fl)
		for sc.Scan() {
			lines <- sc.Text()
		}
		readErr <- sc.Err()
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		if got := <-lines; got != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	expect("one")

	appendTo := func(s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	appendTo("two\n")
	expect("two")

	// Truncation: the file is rewritten shorter than what was read.
	if err := os.WriteFile(path, []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("3")

	// Rotation: the file is renamed and a new one created.
	appendTo("four\n")
	expect("four")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("five\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("five")

	cancel()
	if _, ok := <-lines; ok {
		t.Fatal("a line after cancellation")
	}
	if err := <-readErr; err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

func TestFollowMissingFile(t *testing.T) {
	if _, err := Follow(t.Context(), filepath.Join(t.TempDir(), "absent"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}
