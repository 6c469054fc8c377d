package vulndb_test

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// copyTree copies the regular files under src to a new directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func lookupIDs(t *testing.T, path, ecosystem, name string) []string {
	t.Helper()
	db, err := vulndb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	cands, err := db.Lookup(context.Background(), ecosystem, name)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cands {
		ids = append(ids, c.AdvisoryID)
	}
	return ids
}

func TestImport(t *testing.T) {
	published, man := buildFixture(t)
	ctx := context.Background()
	manifest, err := os.ReadFile(vulndb.ManifestPath(published))
	if err != nil {
		t.Fatalf("db build wrote no manifest file: %v", err)
	}

	t.Run("verified and replaced", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "vuln.db")
		if err := os.WriteFile(out, []byte("old database"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := vulndb.Import(ctx, vulndb.ImportOptions{File: published, Out: out})
		if err != nil {
			t.Fatal(err)
		}
		if !got.BuiltAt.Equal(man.BuiltAt) || got.Advisories != man.Advisories {
			t.Errorf("imported manifest %+v, want %+v", got, man)
		}
		if ids := lookupIDs(t, out, "Go", "example.com/mod"); !slices.Equal(ids, []string{"GO-2099-0001"}) {
			t.Errorf("imported database: Lookup = %q", ids)
		}
		if b, err := os.ReadFile(vulndb.ManifestPath(out)); err != nil || string(b) != string(manifest) {
			t.Errorf("manifest next to the imported database: %v", err)
		}
	})

	// Each case publishes a database and a manifest that must be refused,
	// and checks that the existing database survives byte for byte.
	tampered := func(t *testing.T) (string, string) {
		b, err := os.ReadFile(published)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		f := filepath.Join(t.TempDir(), "tampered.db")
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		m := filepath.Join(t.TempDir(), "m.json")
		if err := os.WriteFile(m, manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		return f, m
	}
	withManifest := func(edit func(string) string) func(t *testing.T) (string, string) {
		return func(t *testing.T) (string, string) {
			m := filepath.Join(t.TempDir(), "m.json")
			if err := os.WriteFile(m, []byte(edit(string(manifest))), 0o600); err != nil {
				t.Fatal(err)
			}
			return published, m
		}
	}
	rebuilt := func(t *testing.T) (string, string) {
		// A database that hashes right but whose stored manifest says
		// something else than the manifest file (built at another time).
		other := filepath.Join(t.TempDir(), "other.db")
		if _, err := vulndb.Build(ctx, vulndb.BuildOptions{OSV: []string{"testdata/build/osv"}, Alpine: []string{"testdata/build/alpine"}, Out: other, Now: func() time.Time { return man.BuiltAt.Add(time.Hour) }}); err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(vulndb.ManifestPath(other))
		if err != nil {
			t.Fatal(err)
		}
		m := filepath.Join(t.TempDir(), "m.json")
		// Keep the file's hash and size, claim the original build time.
		edited := strings.Replace(string(fresh), man.BuiltAt.Add(time.Hour).Format(time.RFC3339), man.BuiltAt.Format(time.RFC3339), 1)
		if edited == string(fresh) {
			t.Fatal("could not edit the build time")
		}
		if err := os.WriteFile(m, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		return other, m
	}
	for _, tt := range []struct {
		name    string
		publish func(t *testing.T) (file, manifest string)
		want    error
	}{
		{"tampered file", tampered, vulndb.ErrImportMismatch},
		{"wrong hash", withManifest(func(s string) string {
			i := strings.Index(s, `"sha256": "`) + len(`"sha256": "`)
			return s[:i] + strings.Repeat("0", 64) + s[i+64:]
		}), nil},
		{"unknown field", withManifest(func(s string) string { return strings.Replace(s, "{", `{"extra": 1,`, 1) }), vulndb.ErrBadManifest},
		{"not JSON", withManifest(func(string) string { return "<html>" }), vulndb.ErrBadManifest},
		{"stored manifest differs", rebuilt, vulndb.ErrImportMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "vuln.db")
			if err := os.WriteFile(out, []byte("old database"), 0o600); err != nil {
				t.Fatal(err)
			}
			file, m := tt.publish(t)
			_, err := vulndb.Import(ctx, vulndb.ImportOptions{File: file, Manifest: m, Out: out})
			if err == nil {
				t.Fatal("import succeeded, want it refused")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if b, _ := os.ReadFile(out); string(b) != "old database" {
				t.Error("a refused import changed the existing database")
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".vulndb-import-*")); len(left) > 0 {
				t.Errorf("temporary files left behind: %q", left)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	osv := copyTree(t, "testdata/build/osv")
	alpine := copyTree(t, "testdata/build/alpine")
	path := filepath.Join(t.TempDir(), "vuln.db")
	t0 := time.Date(2099, 3, 1, 0, 0, 0, 0, time.UTC)
	built, err := vulndb.Build(ctx, vulndb.BuildOptions{OSV: []string{osv}, Alpine: []string{alpine}, Out: path, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing changed: nothing is written.
	_, stats, err := vulndb.Update(ctx, path, vulndb.BuildOptions{Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Changed() || stats.Unchanged != built.Advisories {
		t.Errorf("update without changes: %+v, want %d unchanged", stats, built.Advisories)
	}

	// One record modified (now affects example.com/other), one removed,
	// one added.
	rec := `{"id":"GO-2099-0001","modified":"2099-05-01T00:00:00Z","summary":"moved","affected":[{"package":{"name":"example.com/other","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`
	if err := os.WriteFile(filepath.Join(osv, "go", "GO-2099-0001.json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(osv, "zdup")); err != nil { // the older duplicate of GO-2099-0001
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(osv, "pypi", "PYSEC-2099-1.yaml")); err != nil {
		t.Fatal(err)
	}
	added := `{"id":"GO-2099-0003","modified":"2099-05-02T00:00:00Z","affected":[{"package":{"name":"example.com/new","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`
	if err := os.WriteFile(filepath.Join(osv, "go", "GO-2099-0003.json"), []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	man, stats, err := vulndb.Update(ctx, path, vulndb.BuildOptions{Now: func() time.Time { return t0.Add(2 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	want := vulndb.UpdateStats{Added: 1, Updated: 1, Deleted: 1, Unchanged: built.Advisories - 2}
	if stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if man.Advisories != built.Advisories || !man.BuiltAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("manifest %+v: want %d advisories built at %s", man, built.Advisories, t0.Add(2*time.Hour))
	}
	for _, tt := range []struct {
		ecosystem, name string
		want            []string
	}{
		{"Go", "example.com/mod", nil},
		{"Go", "example.com/other", []string{"GO-2099-0001"}},
		{"Go", "example.com/new", []string{"GO-2099-0003"}},
		{"PyPI", "some-package", []string{"GHSA-xxxx-yyyy-zzzz"}},
		{"Alpine:v3.11", "openssl", []string{"ALPINE-CVE-2019-1547", "ALPINE-CVE-2020-1967"}},
	} {
		if got := lookupIDs(t, path, tt.ecosystem, tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("after update, Lookup(%s, %s) = %q, want %q", tt.ecosystem, tt.name, got, tt.want)
		}
	}
	// The updated database agrees with its manifest file: it can be
	// published and imported.
	out := filepath.Join(t.TempDir(), "imported.db")
	if _, err := vulndb.Import(ctx, vulndb.ImportOptions{File: path, Out: out}); err != nil {
		t.Errorf("import of the updated database: %v", err)
	}
	// A source that disappeared fails the update and keeps the database.
	if err := os.RemoveAll(alpine); err != nil {
		t.Fatal(err)
	}
	if _, _, err := vulndb.Update(ctx, path, vulndb.BuildOptions{}); err == nil {
		t.Error("update with a missing source succeeded")
	}
	if got := lookupIDs(t, path, "Go", "example.com/new"); !slices.Equal(got, []string{"GO-2099-0003"}) {
		t.Errorf("a failed update changed the database: %q", got)
	}
}

// zipDir writes the files under dir into a zip archive.
func zipDir(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "osv.zip")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	if err := zw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestURLSources(t *testing.T) {
	ctx := context.Background()
	shared := filepath.Join(vulndbtest.DataDir(t), "osv")
	mux := http.NewServeMux()
	mux.Handle("/osv/", http.StripPrefix("/osv/", http.FileServer(http.Dir(shared))))
	zipped := zipDir(t, "testdata/build/osv")
	mux.HandleFunc("/fixture/osv.zip", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, zipped) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var downloaded []string
	var progressed int
	remote := vulndb.BuildOptions{
		OSV:        []string{srv.URL + "/osv/golang-vulndb-osv.tar.gz", srv.URL + "/fixture/osv.zip"},
		Alpine:     []string{srv.URL + "/osv/alpine-secdb.tar.gz"},
		Out:        filepath.Join(t.TempDir(), "remote.db"),
		HTTPClient: srv.Client(),
		Download: func(u string, _ int64) io.Writer {
			downloaded = append(downloaded, u)
			return io.Discard
		},
		Progress: func(string, string, int) { progressed++ },
	}
	local := vulndb.BuildOptions{
		OSV:    []string{filepath.Join(shared, "golang-vulndb-osv.tar.gz"), zipped},
		Alpine: []string{filepath.Join(shared, "alpine-secdb.tar.gz")},
		Out:    filepath.Join(t.TempDir(), "local.db"),
	}
	rm, err := vulndb.Build(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := vulndb.Build(ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	if len(downloaded) != 3 || progressed == 0 {
		t.Errorf("downloads %q, progress calls %d: want 3 downloads and progress", downloaded, progressed)
	}
	if rm.Advisories != lm.Advisories || len(rm.Sources) != len(lm.Sources) {
		t.Fatalf("built from URLs %+v, from files %+v", rm, lm)
	}
	for i := range rm.Sources {
		r, l := rm.Sources[i], lm.Sources[i]
		if r.SHA256 != l.SHA256 || r.Records != l.Records || r.Rejected != l.Rejected || !strings.HasPrefix(r.Location, srv.URL) {
			t.Errorf("source %d from a URL %+v, from a file %+v", i, r, l)
		}
	}
	if got := lookupIDs(t, remote.Out, "Go", "example.com/mod"); !slices.Equal(got, []string{"GO-2099-0001"}) {
		t.Errorf("record from the zip source: Lookup = %q", got)
	}

	// Update re-reads the URLs recorded in the manifest; nothing changed.
	_, stats, err := vulndb.Update(ctx, remote.Out, vulndb.BuildOptions{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Changed() || stats.Unchanged != rm.Advisories {
		t.Errorf("update from unchanged URLs: %+v", stats)
	}

	missing := remote
	missing.OSV = []string{srv.URL + "/osv/nothing-here.tar.gz"}
	missing.Out = filepath.Join(t.TempDir(), "x.db")
	if _, err := vulndb.Build(ctx, missing); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("build from a missing URL: err = %v, want an HTTP 404 error", err)
	}
}

func FuzzParseManifestFile(f *testing.F) {
	f.Add([]byte(`{"schema_version":"1","built_at":"2099-03-01T12:00:00Z","sources":[{"kind":"osv","location":"x","sha256":"","records":1,"rejected":0}],"advisories":1,"size":10,"sha256":"` + strings.Repeat("a", 64) + `"}`))
	f.Add([]byte(`{"schema_version":"1"}`))
	f.Add([]byte(`{"schema_version":"1","built_at":"2099-03-01T12:00:00Z","sources":[],"advisories":-1,"size":0,"sha256":"x"} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := vulndb.ParseManifestFile(data)
		if err != nil {
			if !errors.Is(err, vulndb.ErrBadManifest) {
				t.Fatalf("error %v does not wrap ErrBadManifest", err)
			}
			return
		}
		if m.SchemaVersion != vulndb.SchemaVersion || m.Size <= 0 || len(m.SHA256) != 64 || len(m.Sources) == 0 || m.BuiltAt.IsZero() {
			t.Fatalf("accepted an invalid manifest: %+v", m)
		}
	})
}
