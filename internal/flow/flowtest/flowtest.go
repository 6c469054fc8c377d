// Package flowtest locates the shared real test data (pcaps, the corrected
// CIC-IDS2017 samples) for the flow packages' tests and benchmarks. It is a
// thin layer over package shareddata, which does the locating.
package flowtest

import (
	"path/filepath"
	"testing"

	"github.com/kubeward/kubeward/internal/shareddata"
)

// DataDir returns the shared data directory and fails the test when it does
// not exist. It delegates to shareddata.
func DataDir(tb testing.TB) string {
	tb.Helper()
	return shareddata.Path(tb, ".")
}

// Path joins elem to the shared data directory and fails the test when the
// result does not exist. It delegates to shareddata.Path.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return shareddata.Path(tb, filepath.Join(elem...))
}
