// Package shareddata locates the project's shared real test data: the
// directory named by $KUBEWARD_TESTDATA or, when that is unset,
// ../shared/data next to the repository root (the directory holding
// go.mod, found from the working directory up). The data is never copied
// into the repository; tests, benchmarks and test fixtures read it from
// there.
package shareddata

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvVar overrides the location of the shared data directory.
const EnvVar = "KUBEWARD_TESTDATA"

// Dir returns the shared data directory: $KUBEWARD_TESTDATA, or
// ../shared/data next to the directory holding go.mod, searched from the
// working directory up. It returns an error when the directory cannot be
// found or is not a directory. Tests should prefer Path and Read, which
// fail the test instead; Dir is for code that reports errors itself, such
// as fixture builders.
func Dir() (string, error) {
	if dir := os.Getenv(EnvVar); dir != "" {
		return checkDir(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("shared test data: working directory: %w (set %s to the shared data directory)", err, EnvVar)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return checkDir(filepath.Join(dir, "..", "shared", "data"))
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("shared test data: no go.mod above %s (set %s to the shared data directory)", wd, EnvVar)
		}
	}
}

// checkDir returns dir when it is an existing directory.
func checkDir(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("shared test data: %w (set %s to the shared data directory)", err, EnvVar)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("shared test data: %s is not a directory (set %s to the shared data directory)", dir, EnvVar)
	}
	return dir, nil
}

// Path returns the path of rel inside the shared data directory. The test
// fails when the directory or the file cannot be found: the data is part
// of the test setup, not optional.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared test data %s: %v (set %s to the shared data directory)", rel, err, EnvVar)
	}
	return p
}

// Read returns the contents of rel inside the shared data directory. The
// test fails when it cannot be read.
func Read(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, rel))
	if err != nil {
		tb.Fatalf("shared test data: %v", err)
	}
	return b
}
