package dataset

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/flowtest"
)

func archive(t *testing.T) string {
	return flowtest.Path(t, "netflow", "cicids2017-improved-samples.tar.gz")
}

// TestHeaderMatchesPublishedDataset compares flow.Header with the header
// reference shipped with the corrected CIC-IDS2017 samples.
func TestHeaderMatchesPublishedDataset(t *testing.T) {
	f, err := os.Open(archive(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no data_header_reference.csv in the archive: %v", err)
		}
		if strings.HasSuffix(h.Name, "data_header_reference.csv") {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(flow.Header(), ","), strings.TrimSpace(string(b)); got != want {
				t.Errorf("flow.Header() =\n%s\nwant\n%s", got, want)
			}
			return
		}
	}
}

// TestLoadPublishedSample loads the 2,500-per-class sample and checks the
// class counts that its file names announce (Class_Count.csv).
func TestLoadPublishedSample(t *testing.T) {
	ds, err := Load(context.Background(), []string{archive(t)}, Options{Match: "rnd_2500"})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rejected != 0 || len(ds.Files) != 16 {
		t.Fatalf("%d files, %d rejected rows; want 16 and 0", len(ds.Files), ds.Rejected)
	}
	counts := ds.ClassCounts()
	total := 0
	for _, f := range ds.Files {
		base := strings.TrimSuffix(filepath.Base(f), ".csv")
		i := strings.LastIndexByte(base, '_')
		var want int
		for _, c := range base[i+1:] {
			want = want*10 + int(c-'0')
		}
		total += want
		label := strings.ReplaceAll(base[:i], "_", " ")
		if counts[label] != want {
			t.Errorf("class %q: %d rows, file name says %d", label, counts[label], want)
		}
	}
	if len(ds.Records) != total || len(ds.SHA256) != 64 {
		t.Errorf("%d records (want %d), digest %q", len(ds.Records), total, ds.SHA256)
	}
	// The CIC-IDS2017 invariants our extractor reproduces hold on every row.
	for i := range ds.Records {
		v := ds.Records[i].Values
		n := v[flow.TotalFwdPackets] + v[flow.TotalBwdPackets]
		if v[flow.SubflowFwdBytes] != float64(int64(v[flow.TotalLenFwd]/n)) {
			t.Fatalf("row %d: Subflow Fwd Bytes %v != floor(%v/%v)", i, v[flow.SubflowFwdBytes], v[flow.TotalLenFwd], n)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Join(flow.Header(), ",")+"\n1,2,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), []string{bad}, Options{}); err == nil {
		t.Error("Load accepted a short row with no bad-row allowance")
	}
	ds, err := Load(context.Background(), []string{dir}, Options{MaxBadRows: 1})
	if err != nil || ds.Rejected != 1 || len(ds.Records) != 0 {
		t.Errorf("with allowance: %v, rejected %v", err, ds)
	}
	if _, err := Load(context.Background(), []string{t.TempDir()}, Options{}); err == nil {
		t.Error("Load accepted a directory without CSV files")
	}
}
