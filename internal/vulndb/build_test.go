package vulndb_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	vulndbtest.Cleanup()
	os.Exit(code)
}

func buildFixture(t *testing.T) (string, vulndb.Manifest) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "vuln.db")
	built := time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)
	man, err := vulndb.Build(context.Background(), vulndb.BuildOptions{
		OSV:    []string{"testdata/build/osv"},
		Alpine: []string{"testdata/build/alpine"},
		Out:    out,
		Now:    func() time.Time { return built },
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return out, man
}

func TestBuildManifest(t *testing.T) {
	path, man := buildFixture(t)
	db, err := vulndb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	got := db.Manifest()
	if !got.BuiltAt.Equal(man.BuiltAt) || got.Advisories != man.Advisories || !slices.Equal(got.Sources, man.Sources) {
		t.Errorf("stored manifest %+v differs from the returned one %+v", got, man)
	}
	want := []struct {
		kind              string
		records, rejected int
	}{
		// 5 files: broken.json invalid, zdup/GO-2099-0001 an older duplicate.
		{vulndb.KindOSV, 4, 2},
		// CVE-2019-1547, -1549, -0734 (with alias -0735), -14697, -1967;
		// rejected: broken.yaml and the "no id here" entry.
		{vulndb.KindAlpine, 5, 2},
	}
	if len(got.Sources) != len(want) {
		t.Fatalf("sources = %+v, want %d entries", got.Sources, len(want))
	}
	for i, w := range want {
		s := got.Sources[i]
		if s.Kind != w.kind || s.Records != w.records || s.Rejected != w.rejected {
			t.Errorf("source %d = %+v, want kind %s records %d rejected %d", i, s, w.kind, w.records, w.rejected)
		}
		if len(s.SHA256) != 64 {
			t.Errorf("source %d sha256 = %q, want 64 hex digits", i, s.SHA256)
		}
	}
	if got.Advisories != 9 {
		t.Errorf("advisories = %d, want 9", got.Advisories)
	}
}

func TestLookup(t *testing.T) {
	path, _ := buildFixture(t)
	ctx := context.Background()
	db, err := vulndb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only

	tests := []struct {
		ecosystem, name string
		wantIDs         []string
	}{
		// GO-2099-0002 is withdrawn and must not be returned.
		{"Go", "example.com/mod", []string{"GO-2099-0001"}},
		// PyPI names are PEP 503 normalised on both sides.
		{"PyPI", "SOME.package", []string{"GHSA-xxxx-yyyy-zzzz", "PYSEC-2099-1"}},
		// Alpine is keyed by branch and origin package.
		{"Alpine:v3.10", "openssl", []string{"ALPINE-CVE-2018-0734", "ALPINE-CVE-2019-1547", "ALPINE-CVE-2019-1549"}},
		{"Alpine:v3.11", "openssl", []string{"ALPINE-CVE-2019-1547", "ALPINE-CVE-2020-1967"}},
		{"Alpine:v3.10", "libcrypto1.1", nil},
		{"Go", "example.com/other", nil},
	}
	for _, tt := range tests {
		t.Run(tt.ecosystem+"/"+tt.name, func(t *testing.T) {
			cands, err := db.Lookup(ctx, tt.ecosystem, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range cands {
				ids = append(ids, c.AdvisoryID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("Lookup = %q, want %q", ids, tt.wantIDs)
			}
		})
	}

	cands, err := db.Lookup(ctx, "Go", "example.com/mod")
	if err != nil || len(cands) != 1 {
		t.Fatalf("Lookup Go: %v %v", cands, err)
	}
	c := cands[0]
	if c.Summary != "Hand-written test record" {
		t.Errorf("summary %q: the older duplicate replaced the first copy", c.Summary)
	}
	if len(c.Severity) != 1 || c.Severity[0].Type != "CVSS_V3" {
		t.Errorf("severity = %+v", c.Severity)
	}

	py, err := db.Lookup(ctx, "PyPI", "some-package")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range py {
		if c.AdvisoryID != "PYSEC-2099-1" {
			continue
		}
		// YAML scalars keep their text: 1.10 is not the float 1.1.
		if got := c.Affected.Ranges[0].Events[1].Fixed; got != "1.10" {
			t.Errorf("fixed = %q, want 1.10", got)
		}
		if !slices.Equal(c.Affected.Versions, []string{"1.0", "1.9"}) {
			t.Errorf("versions = %q", c.Affected.Versions)
		}
		if c.DatabaseSeverity != "MODERATE" {
			t.Errorf("database severity = %q", c.DatabaseSeverity)
		}
	}

	alpine, err := db.Lookup(ctx, "Alpine:v3.10", "openssl")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range alpine {
		if c.AdvisoryID == "ALPINE-CVE-2018-0734" && !slices.Equal(c.Aliases, []string{"CVE-2018-0734", "CVE-2018-0735"}) {
			t.Errorf("aliases of %s = %q", c.AdvisoryID, c.Aliases)
		}
	}
}

func TestAliases(t *testing.T) {
	path, _ := buildFixture(t)
	ctx := context.Background()
	db, err := vulndb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	tests := []struct {
		id   string
		own  []string
		want []string
	}{
		// GHSA names PYSEC as alias: the link is found from both ends.
		{"PYSEC-2099-1", []string{"CVE-2099-0002"}, []string{"CVE-2099-0002", "GHSA-xxxx-yyyy-zzzz"}},
		{"GHSA-xxxx-yyyy-zzzz", []string{"PYSEC-2099-1"}, []string{"PYSEC-2099-1"}},
		{"GO-2099-0001", []string{"CVE-2099-0001", "GHSA-aaaa-bbbb-cccc"}, []string{"CVE-2099-0001", "GHSA-aaaa-bbbb-cccc"}},
		// Records sharing a CVE alias are linked through it.
		{"ALPINE-CVE-2019-1547", []string{"CVE-2019-1547"}, []string{"CVE-2019-1547"}},
	}
	for _, tt := range tests {
		got, err := db.Aliases(ctx, tt.id, tt.own)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Aliases(%s) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestBuildFailureKeepsExistingDatabase(t *testing.T) {
	path, _ := buildFixture(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vulndb.Build(context.Background(), vulndb.BuildOptions{
		OSV: []string{"testdata/build/osv", "testdata/does-not-exist"},
		Out: path,
	})
	if err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Fatalf("Build with a missing source: err = %v, want one naming the source", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("a failed build changed the existing database")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".vulndb-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %q", leftovers)
	}
}

func TestBuildRequiresSourcesAndOutput(t *testing.T) {
	for _, opts := range []vulndb.BuildOptions{
		{Out: filepath.Join(t.TempDir(), "x.db")},
		{OSV: []string{"testdata/build/osv"}},
	} {
		if _, err := vulndb.Build(context.Background(), opts); err == nil {
			t.Errorf("Build(%+v) succeeded, want an error", opts)
		}
	}
}

func TestOpenRejectsOtherFiles(t *testing.T) {
	ctx := context.Background()
	if _, err := vulndb.Open(ctx, filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	notDB := filepath.Join(t.TempDir(), "not.db")
	if err := os.WriteFile(notDB, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Open(ctx, notDB); err == nil {
		t.Error("Open of a non-database succeeded")
	}
}

// countArchive counts the regular files of a .tar.gz whose names match.
func countArchive(t *testing.T, path string, match func(string) bool) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && match(h.Name) {
			n++
		}
	}
}

func TestBuildSharedData(t *testing.T) {
	ctx := context.Background()
	path := vulndbtest.SharedDB(t)
	db, err := vulndb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // read-only
	opts := vulndbtest.Options(t, path)
	man := db.Manifest()
	wantOSV := []int{
		countArchive(t, opts.OSV[0], func(n string) bool { return strings.HasSuffix(n, ".json") }),
		countArchive(t, opts.OSV[1], func(n string) bool { return strings.HasSuffix(n, ".yaml") }),
	}
	for i, w := range wantOSV {
		s := man.Sources[i]
		if s.Records != w || s.Rejected != 0 {
			t.Errorf("%s: records %d rejected %d, want %d and 0", s.Location, s.Records, s.Rejected, w)
		}
	}
	if s := man.Sources[2]; s.Kind != vulndb.KindAlpine || s.Records == 0 {
		t.Errorf("alpine source = %+v", s)
	}

	// The Go vulndb writes modified as 0001-01-01; such records must still
	// be stored and found.
	cands, err := db.Lookup(ctx, "Go", "golang.org/x/net")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cands, func(c vulndb.Candidate) bool { return c.AdvisoryID == "GO-2022-0236" }) {
		t.Error("GO-2022-0236 (golang.org/x/net, modified 0001-01-01) not found")
	}
}

func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	opts := vulndbtest.Options(b, filepath.Join(dir, "vuln.db"))
	for b.Loop() {
		if _, err := vulndb.Build(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBuildSingleFileSources(t *testing.T) {
	man, err := vulndb.Build(context.Background(), vulndb.BuildOptions{
		OSV:    []string{"testdata/build/osv/go/GO-2099-0001.json", "testdata/build/osv/pypi/PYSEC-2099-1.yaml"},
		Alpine: []string{"testdata/build/alpine/v3.10/main.yaml"},
		Out:    filepath.Join(t.TempDir(), "vuln.db"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, s := range man.Sources {
		got = append(got, s.Records)
	}
	// CVE-2019-1547, -1549, -0734 (+ -0735) and -14697 from the secdb file.
	if want := []int{1, 1, 4}; !slices.Equal(got, want) {
		t.Errorf("records per source = %v, want %v", got, want)
	}
	_, again := buildFixture(t)
	_, first := buildFixture(t)
	for i := range first.Sources {
		if first.Sources[i].SHA256 != again.Sources[i].SHA256 {
			t.Errorf("source %s: hash differs between builds", first.Sources[i].Location)
		}
	}
}
