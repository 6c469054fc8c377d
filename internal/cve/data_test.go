package cve

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/shareddata"
)

// recordsArchive is the vulnrichment snapshot of 44,130 CVE records.
const recordsArchive = "cve/vulnrichment-records.tar.gz"

// walkRecords calls fn for every CVE JSON file in the records archive, in
// archive order, until fn returns false.
func walkRecords(tb testing.TB, fn func(name string, data []byte) bool) {
	tb.Helper()
	f, err := os.Open(shareddata.Path(tb, recordsArchive))
	if err != nil {
		tb.Fatalf("open records archive: %v", err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatalf("gunzip records archive: %v", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			tb.Fatalf("read records archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("read %s: %v", h.Name, err)
		}
		if !fn(h.Name, data) {
			return
		}
	}
}

// loadRecords returns the named records from the archive, keyed by file
// base name without .json (the CVE ID). It fails the test when one is
// missing.
func loadRecords(tb testing.TB, ids ...string) map[string][]byte {
	tb.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[string][]byte{}
	walkRecords(tb, func(name string, data []byte) bool {
		id := strings.TrimSuffix(filepath.Base(name), ".json")
		if want[id] {
			got[id] = data
		}
		return len(got) < len(want)
	})
	for id := range want {
		if got[id] == nil {
			tb.Fatalf("record %s not in %s", id, recordsArchive)
		}
	}
	return got
}
