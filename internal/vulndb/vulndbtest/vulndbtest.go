// Package vulndbtest gives tests access to the shared real advisory data
// (../shared/data next to the repository, or $KUBEWARD_TESTDATA) and to a
// vulnerability database built from it once per test process.
package vulndbtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubeward/kubeward/internal/vulndb"
)

// DataDir returns the shared test data directory: $KUBEWARD_TESTDATA if
// set, else ../shared/data relative to the directory holding go.mod. It
// fails the test when the directory is missing.
func DataDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("KUBEWARD_TESTDATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("vulndbtest: no go.mod above the working directory; set KUBEWARD_TESTDATA")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("vulndbtest: shared test data not found (set KUBEWARD_TESTDATA): %v", err)
	}
	return d
}

// Options returns build options for the shared Go vulndb, PyPA and Alpine
// secdb archives, writing to out.
func Options(t testing.TB, out string) vulndb.BuildOptions {
	d := filepath.Join(DataDir(t), "osv")
	return vulndb.BuildOptions{
		OSV: []string{
			filepath.Join(d, "golang-vulndb-osv.tar.gz"),
			filepath.Join(d, "pypa-advisories-osv-yaml.tar.gz"),
		},
		Alpine: []string{filepath.Join(d, "alpine-secdb.tar.gz")},
		Out:    out,
	}
}

var (
	once     sync.Once
	sharedDB string
	buildErr error
	tmpDir   string
)

// SharedDB returns the path of a database built from the shared data. It
// is built once per test process in a temporary directory that lives until
// the process exits (call Cleanup from TestMain to remove it).
func SharedDB(t testing.TB) string {
	t.Helper()
	opts := Options(t, "") // fails the test here, outside once, if data is missing
	once.Do(func() {
		tmpDir, buildErr = os.MkdirTemp("", "kubeward-vulndb-")
		if buildErr != nil {
			return
		}
		sharedDB = filepath.Join(tmpDir, "vuln.db")
		opts.Out = sharedDB
		_, buildErr = vulndb.Build(context.Background(), opts)
	})
	if buildErr != nil {
		t.Fatalf("vulndbtest: build shared database: %v", buildErr)
	}
	return sharedDB
}

// Cleanup removes the shared database, if one was built.
func Cleanup() {
	if tmpDir != "" {
		if err := os.RemoveAll(tmpDir); err != nil {
			slog.Warn("vulndbtest: remove the shared test database", "dir", tmpDir, "err", err)
		}
	}
}
