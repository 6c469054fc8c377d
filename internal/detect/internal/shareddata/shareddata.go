// Package shareddata locates the project's shared real test data
// (../shared/data next to the repository root, or $KUBEWARD_TESTDATA).
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvVar overrides the location of the shared data directory.
const EnvVar = "KUBEWARD_TESTDATA"

// Path returns the path of rel inside the shared data directory. The test
// fails when the directory or the file cannot be found: the data is part
// of the test setup, not optional.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	dir := os.Getenv(EnvVar)
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			tb.Fatalf("shared test data: %v", err)
		}
		for {
			if _, err := os.Stat(filepath.Join(wd, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(wd)
			if parent == wd {
				tb.Fatalf("shared test data: no go.mod above the test directory; set %s", EnvVar)
			}
			wd = parent
		}
		dir = filepath.Join(wd, "..", "shared", "data")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared test data %s: %v (set %s to the shared data directory)", rel, err, EnvVar)
	}
	return p
}

// Read returns the contents of rel inside the shared data directory.
func Read(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, rel))
	if err != nil {
		tb.Fatalf("shared test data: %v", err)
	}
	return b
}
