package sbom_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/sbom"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

var subject = sbom.Subject{Name: "lockfiles", Tool: "test", Created: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}

type writer func(*bytes.Buffer, sbom.Subject, []scan.Package) error

var writers = []struct {
	format sbom.Format
	write  writer
}{
	{sbom.CycloneDX, func(b *bytes.Buffer, s sbom.Subject, p []scan.Package) error { return sbom.WriteCycloneDX(b, s, p) }},
	{sbom.SPDX, func(b *bytes.Buffer, s sbom.Subject, p []scan.Package) error { return sbom.WriteSPDX(b, s, p) }},
}

// sharedPackages inventories every shared lockfile directory.
func sharedPackages(t *testing.T) []scan.Package {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(vulndbtest.DataDir(t), "inventories", "lockfiles", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no shared lockfiles: %v", err)
	}
	var all []scan.Package
	for _, d := range dirs {
		pkgs, err := scan.Inventory(context.Background(), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pkgs...)
	}
	return all
}

type key struct{ eco, name, version, purl string }

func keys(pkgs []scan.Package) []key {
	var ks []key
	for _, p := range pkgs {
		ks = append(ks, key{p.Ecosystem, p.Name, p.Version, p.PURL})
	}
	return ks
}

// TestRoundTrip writes the shared lockfiles' packages in each format and
// reads them back: every package with a purl must come back with the same
// name, version and ecosystem.
func TestRoundTrip(t *testing.T) {
	pkgs := sharedPackages(t)
	var want []key
	for _, p := range pkgs {
		if p.PURL != "" {
			want = append(want, key{p.Ecosystem, p.Name, p.Version, p.PURL})
		}
	}
	if len(want) < 100 {
		t.Fatalf("only %d packages with a purl in the shared lockfiles", len(want))
	}
	for _, w := range writers {
		t.Run(string(w.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.write(&buf, subject, pkgs); err != nil {
				t.Fatal(err)
			}
			doc, err := sbom.Read(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if doc.Format != w.format {
				t.Errorf("format %q, want %q", doc.Format, w.format)
			}
			if got := keys(doc.Packages); !slices.Equal(got, want) {
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Errorf("package %d: got %+v, want %+v", i, got[i], want[i])
						break
					}
				}
				t.Fatalf("read %d packages, wrote %d", len(got), len(want))
			}
			if doc.Skipped != len(pkgs)-len(want) {
				t.Errorf("skipped %d, want %d", doc.Skipped, len(pkgs)-len(want))
			}
			var again bytes.Buffer
			if err := w.write(&again, subject, pkgs); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("the same packages produced two different documents")
			}
		})
	}
}

// TestSBOMFindingsMatchLockfiles checks that scanning an SBOM of the shared
// lockfiles finds what scanning the lockfiles finds.
func TestSBOMFindingsMatchLockfiles(t *testing.T) {
	ctx := context.Background()
	db, err := vulndb.Open(ctx, vulndbtest.SharedDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pkgs := sharedPackages(t)
	m := &scan.Matcher{DB: db}
	direct, err := m.Match(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(direct) == 0 {
		t.Fatal("no findings in the shared lockfiles")
	}
	ids := func(fs []scan.Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Package.Ecosystem+" "+f.Package.Name+" "+f.Package.Version+" "+f.AdvisoryID)
		}
		slices.Sort(out)
		return out
	}
	for _, w := range writers {
		t.Run(string(w.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.write(&buf, subject, pkgs); err != nil {
				t.Fatal(err)
			}
			doc, err := sbom.Read(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Match(ctx, doc.Packages)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := ids(got), ids(direct); !slices.Equal(g, w) {
				t.Errorf("SBOM findings differ from lockfile findings:\n got %d %v\nwant %d %v", len(g), g, len(w), w)
			}
		})
	}
}

func TestPackageFromPURL(t *testing.T) {
	tests := []struct {
		purl string
		want scan.Package
	}{
		{"pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495", scan.Package{Name: "golang.org/x/net", Version: "v0.0.0-20211111083644-e5c967477495", Ecosystem: "Go"}},
		{"pkg:pypi/django@2.0.9", scan.Package{Name: "django", Version: "2.0.9", Ecosystem: "PyPI"}},
		{"pkg:npm/%40babel/core@7.0.0", scan.Package{Name: "@babel/core", Version: "7.0.0", Ecosystem: "npm"}},
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", scan.Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Ecosystem: "Maven"}},
		{"pkg:cargo/smallvec@1.6.0", scan.Package{Name: "smallvec", Version: "1.6.0", Ecosystem: "crates.io"}},
		// syft's spelling of an apk origin.
		{"pkg:apk/alpine/libcrypto1.1@1.1.1d-r2?arch=x86_64&upstream=openssl&distro=alpine-3.10.4", scan.Package{Name: "libcrypto1.1", Version: "1.1.1d-r2", Ecosystem: "Alpine:v3.10", Origin: "openssl"}},
		{"pkg:apk/alpine/musl@1.1.22-r3?distro=alpine-3.10&origin=musl", scan.Package{Name: "musl", Version: "1.1.22-r3", Ecosystem: "Alpine:v3.10"}},
		{"pkg:generic/thing@1.0", scan.Package{Name: "thing", Version: "1.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.purl, func(t *testing.T) {
			got, err := sbom.PackageFromPURL(tt.purl)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.PURL = tt.purl
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, doc, wantMsg string
	}{
		{"not JSON", "<bom/>", "not a JSON object"},
		{"unknown format", `{"hello":"world"}`, "neither"},
		{"CycloneDX with a wrong type", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":{"name":"x"}}`, "CycloneDX JSON"},
		{"SPDX with a wrong type", `{"spdxVersion":"SPDX-2.3","packages":"nope"}`, "SPDX JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sbom.Read(strings.NewReader(tt.doc))
			if !errors.Is(err, sbom.ErrMalformed) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want ErrMalformed mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

func TestReadSkipsComponentsWithoutPURL(t *testing.T) {
	doc, err := sbom.Read(strings.NewReader(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
		{"type":"library","name":"a","version":"1","purl":"pkg:pypi/a@1","components":[{"type":"library","name":"b","version":"2","purl":"pkg:pypi/b"}]},
		{"type":"library","name":"c","version":"3"},
		{"type":"library","name":"d","version":"4","purl":"not a purl"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := keys(doc.Packages)
	want := []key{{"PyPI", "a", "1", "pkg:pypi/a@1"}, {"PyPI", "b", "2", "pkg:pypi/b"}}
	if !slices.Equal(got, want) || doc.Skipped != 2 {
		t.Fatalf("got %+v skipped %d, want %+v skipped 2", got, doc.Skipped, want)
	}
}
