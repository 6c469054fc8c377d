// Package flowtest locates the shared real test data (pcaps, the corrected
// CIC-IDS2017 samples) for the flow packages' tests and benchmarks.
package flowtest

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvData overrides the location of the shared data directory.
const EnvData = "KUBEWARD_TESTDATA"

// DataDir returns the shared data directory: $KUBEWARD_TESTDATA, or
// ../shared/data next to the repository root (the directory holding
// go.mod). It fails the test when the directory does not exist.
func DataDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv(EnvData); d != "" {
		return mustDir(tb, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("working directory: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return mustDir(tb, filepath.Join(dir, "..", "shared", "data"))
		}
		if filepath.Dir(dir) == dir {
			tb.Fatalf("no go.mod above %s: set %s to the shared data directory", wd, EnvData)
		}
	}
}

// Path joins elem to DataDir and fails the test when it does not exist.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{DataDir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("test data %s: %v (set %s to the shared data directory)", p, err, EnvData)
	}
	return p
}

func mustDir(tb testing.TB, d string) string {
	tb.Helper()
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		tb.Fatalf("shared test data directory %s is missing (set %s): %v", d, EnvData, err)
	}
	return d
}
