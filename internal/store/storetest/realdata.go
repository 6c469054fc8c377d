package storetest

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/shareddata"
)

// RecordsArchive is the real-records archive, relative to the data directory.
const RecordsArchive = "cve/vulnrichment-records.tar.gz"

var realCache struct {
	sync.Mutex
	recs []*cve.Record
}

// RealRecords returns the first n records (or all, if fewer) of the
// vulnrichment archive in the shared test data, parsed by cve.Parse. Records
// cve.Parse refuses fail tb. The result is shared: callers must not modify
// the records.
func RealRecords(tb testing.TB, n int) []*cve.Record {
	tb.Helper()
	realCache.Lock()
	defer realCache.Unlock()
	if len(realCache.recs) < n {
		recs, err := loadRecords(n)
		if err != nil {
			tb.Fatalf("storetest: real records: %v", err)
		}
		realCache.recs = recs
	}
	return realCache.recs[:min(n, len(realCache.recs))]
}

func loadRecords(n int) ([]*cve.Record, error) {
	dir, err := shareddata.Dir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, RecordsArchive)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(gz)
	var recs []*cve.Record
	for len(recs) < n {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
		}
		r, err := cve.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s holds no records", path)
	}
	return recs, nil
}
