package shareddata_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/shareddata"
)

// TestDirFromRepository finds the real shared data from the package's
// working directory, with no override.
func TestDirFromRepository(t *testing.T) {
	t.Setenv(shareddata.EnvVar, "")
	dir, err := shareddata.Dir()
	if err != nil {
		t.Fatal(err)
	}
	// The data README is the directory's documented entry point.
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("Dir() = %s, which holds no README.md: %v", dir, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// The package sits two levels below the repository root.
	if want := filepath.Join(wd, "..", "..", "..", "shared", "data"); dir != want {
		t.Errorf("Dir() = %s, want %s", dir, want)
	}
}

func TestDirOverride(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		wantErr string // substring; "" means success
		notExit bool   // the error wraps fs.ErrNotExist
	}{
		{name: "directory", env: tmp},
		{name: "missing", env: filepath.Join(tmp, "missing"), wantErr: "missing", notExit: true},
		{name: "not a directory", env: file, wantErr: "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(shareddata.EnvVar, tt.env)
			dir, err := shareddata.Dir()
			if tt.wantErr == "" {
				if err != nil || dir != tt.env {
					t.Fatalf("Dir() = %q, %v; want %q, nil", dir, err, tt.env)
				}
				return
			}
			if err == nil {
				t.Fatalf("Dir() = %q, nil; want an error containing %q", dir, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), shareddata.EnvVar) {
				t.Errorf("Dir() error %q does not mention %q and %s", err, tt.wantErr, shareddata.EnvVar)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExit {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.notExit)
			}
		})
	}
}

// fatalTB records a fatal failure instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a fatalTB in its own goroutine, so that Goexit ends
// only fn, and reports whether fn failed.
func run(fn func(tb testing.TB)) (failed bool, msg string) {
	tb := &fatalTB{}
	done := make(chan bool)
	go func() {
		completed := false
		defer func() { done <- !completed }()
		fn(tb)
		completed = true
	}()
	return <-done, tb.msg
}

func TestPathAndRead(t *testing.T) {
	tmp := t.TempDir()
	want := []byte("shared\n")
	if err := os.MkdirAll(filepath.Join(tmp, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "sub", "f.txt"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    string
		rel    string
		failed bool
	}{
		{name: "file", env: tmp, rel: "sub/f.txt"},
		{name: "directory itself", env: tmp, rel: "."},
		{name: "missing file", env: tmp, rel: "sub/missing.txt", failed: true},
		{name: "missing directory", env: filepath.Join(tmp, "nope"), rel: "sub/f.txt", failed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(shareddata.EnvVar, tt.env)
			var got string
			failed, msg := run(func(tb testing.TB) { got = shareddata.Path(tb, tt.rel) })
			if failed != tt.failed {
				t.Fatalf("Path(%q) failed = %v (%q), want %v", tt.rel, failed, msg, tt.failed)
			}
			if failed {
				return
			}
			if want := filepath.Join(tt.env, tt.rel); got != want {
				t.Errorf("Path(%q) = %q, want %q", tt.rel, got, want)
			}
		})
	}

	t.Run("read", func(t *testing.T) {
		t.Setenv(shareddata.EnvVar, tmp)
		if got := shareddata.Read(t, "sub/f.txt"); !bytes.Equal(got, want) {
			t.Errorf("Read = %q, want %q", got, want)
		}
	})
	t.Run("read directory", func(t *testing.T) {
		t.Setenv(shareddata.EnvVar, tmp)
		if failed, _ := run(func(tb testing.TB) { shareddata.Read(tb, "sub") }); !failed {
			t.Error("Read of a directory did not fail the test")
		}
	})
}
