package scan_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/scan"
)

// vexDoc is an OpenVEX document about findings of the shared gomod
// lockfile: x/net's GO-2022-0288 (by its CVE alias) not_affected, docker's
// CVE-2024-41110 fixed as a subcomponent of an image, grpc's GO-2023-2153
// first not_affected then, later, affected.
const vexDoc = `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/1",
  "author": "test",
  "timestamp": "2026-11-01T00:00:00Z",
  "version": 1,
  "statements": [
    {"vulnerability": {"name": "CVE-2021-44716"},
     "products": [{"@id": "pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495"}],
     "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
    {"vulnerability": {"name": "CVE-2024-41110"},
     "products": [{"@id": "pkg:oci/app@sha256%3Aabc", "subcomponents": [{"@id": "pkg:golang/github.com/docker/docker@v20.10.11%2Bincompatible"}]}],
     "status": "fixed"},
    {"vulnerability": {"name": "GO-2023-2153"}, "timestamp": "2026-10-01T00:00:00Z",
     "products": [{"@id": "pkg:golang/google.golang.org/grpc"}],
     "status": "not_affected", "impact_statement": "we do not serve HTTP/2"},
    {"vulnerability": {"name": "GO-2023-2153"}, "timestamp": "2026-10-15T00:00:00Z",
     "products": [{"@id": "pkg:golang/google.golang.org/grpc"}],
     "status": "affected", "action_statement": "upgrade"}
  ]
}`

func finding(id, purl string, aliases ...string) scan.Finding {
	return scan.Finding{AdvisoryID: id, Aliases: aliases, Package: scan.Package{PURL: purl}}
}

func TestVEX(t *testing.T) {
	v, err := scan.ParseVEX(strings.NewReader(vexDoc), "app.vex.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		f          scan.Finding
		wantStatus string // "" means open
	}{
		{"by CVE alias", finding("GO-2022-0288", "pkg:golang/golang.org/x/net@0.0.0-20211111083644-e5c967477495", "CVE-2021-44716", "GHSA-vc3p-29h2-gpcp"), "not_affected"},
		{"other version of the product stays open", finding("GO-2022-0288", "pkg:golang/golang.org/x/net@v0.1.0", "CVE-2021-44716"), ""},
		{"subcomponent of an image", finding("GO-2024-3005", "pkg:golang/github.com/docker/docker@20.10.11%2Bincompatible", "CVE-2024-41110"), "fixed"},
		{"latest statement wins", finding("GO-2023-2153", "pkg:golang/google.golang.org/grpc@v1.38.0", "GHSA-m425-mq94-257g"), ""},
		{"other vulnerability", finding("GO-2022-0969", "pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495", "CVE-2022-27664"), ""},
		{"same purl spelled with v", finding("GO-2022-0288", "pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495", "CVE-2021-44716"), "not_affected"},
		{"no purl", finding("GO-2022-0288", "", "CVE-2021-44716"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := v.Suppress(tt.f)
			if ok != (tt.wantStatus != "") || s.Status != tt.wantStatus {
				t.Fatalf("Suppress = %+v, %v; want status %q", s, ok, tt.wantStatus)
			}
			if ok && s.Source != "app.vex.json" {
				t.Errorf("source %q", s.Source)
			}
		})
	}
}

func TestIgnoreFileAndApply(t *testing.T) {
	l, err := scan.ParseIgnoreFile(strings.NewReader("# accepted risks\nCVE-2022-27664  # not reachable\n\nGHSA-m425-mq94-257g\n"), ".kubewardignore")
	if err != nil {
		t.Fatal(err)
	}
	v, err := scan.ParseVEX(strings.NewReader(vexDoc), "app.vex.json")
	if err != nil {
		t.Fatal(err)
	}
	fs := []scan.Finding{
		finding("GO-2022-0288", "pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495", "CVE-2021-44716"),
		finding("GO-2022-0969", "pkg:golang/golang.org/x/net@v0.0.0-20211111083644-e5c967477495", "CVE-2022-27664"),
		finding("GO-2023-2153", "pkg:golang/google.golang.org/grpc@v1.38.0", "GHSA-m425-mq94-257g"),
		finding("GO-2022-1059", "pkg:golang/golang.org/x/text@v0.3.6", "CVE-2022-32149"),
	}
	open, suppressed := scan.ApplySuppressions(fs, v, l)
	if len(open) != 1 || open[0].AdvisoryID != "GO-2022-1059" {
		t.Fatalf("open %+v", open)
	}
	want := []struct{ id, source, statement string }{
		{"GO-2022-0288", "app.vex.json", ""},
		{"GO-2022-0969", ".kubewardignore", "not reachable"},
		{"GO-2023-2153", ".kubewardignore", ""},
	}
	if len(suppressed) != len(want) {
		t.Fatalf("suppressed %d, want %d", len(suppressed), len(want))
	}
	for i, w := range want {
		s := suppressed[i]
		if s.AdvisoryID != w.id || s.Suppression == nil || s.Suppression.Source != w.source || s.Suppression.Statement != w.statement {
			t.Errorf("suppressed[%d] = %s %+v, want %+v", i, s.AdvisoryID, s.Suppression, w)
		}
	}
}

func TestSuppressionFileErrors(t *testing.T) {
	tests := []struct {
		name  string
		parse func() error
		want  string
	}{
		{"VEX not JSON", func() error { _, err := scan.ParseVEX(strings.NewReader("status: fixed"), "x"); return err }, "not an OpenVEX"},
		{"VEX not_affected without justification", func() error {
			_, err := scan.ParseVEX(strings.NewReader(`{"statements":[{"vulnerability":{"name":"CVE-2024-1"},"products":[{"@id":"pkg:pypi/a"}],"status":"not_affected"}]}`), "x")
			return err
		}, "statement 0"},
		{"VEX unknown status", func() error {
			_, err := scan.ParseVEX(strings.NewReader(`{"statements":[{"vulnerability":{"name":"CVE-2024-1"},"products":[{"@id":"pkg:pypi/a"}],"status":"meh"}]}`), "x")
			return err
		}, "statement 0"},
		{"ignore file with a sentence", func() error {
			_, err := scan.ParseIgnoreFile(strings.NewReader("CVE-2024-1\nignore everything\n"), "x")
			return err
		}, "x:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse()
			if !errors.Is(err, scan.ErrMalformedSuppressions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrMalformedSuppressions mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParseVEX(f *testing.F) {
	f.Add([]byte(vexDoc))
	f.Add([]byte(`{"statements":[{"vulnerability":{"name":"CVE-2024-1","aliases":["GHSA-a"]},"products":[{"@id":"pkg:pypi/a","identifiers":{"purl":"pkg:pypi/a@1"},"subcomponents":[{"@id":"pkg:npm/b"}]}],"status":"fixed"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := scan.ParseVEX(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			if !errors.Is(err, scan.ErrMalformedSuppressions) {
				t.Fatalf("error does not wrap ErrMalformedSuppressions: %v", err)
			}
			return
		}
		for _, fd := range []scan.Finding{finding("CVE-2024-1", "pkg:pypi/a@1"), finding("GO-1", "pkg:npm/b@2", "CVE-2024-1")} {
			if s, ok := v.Suppress(fd); ok && s.Status != "not_affected" && s.Status != "fixed" {
				t.Fatalf("suppressed with status %q", s.Status)
			}
		}
	})
}

func FuzzParseIgnoreFile(f *testing.F) {
	f.Add([]byte("CVE-2022-27664 # reason\n# comment\n\nGHSA-m425-mq94-257g\n"))
	f.Add([]byte("PYSEC-2019-17\r\nGO-2022-0288\t#\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := scan.ParseIgnoreFile(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			if !errors.Is(err, scan.ErrMalformedSuppressions) {
				t.Fatalf("error does not wrap ErrMalformedSuppressions: %v", err)
			}
			return
		}
		l.Suppress(finding("CVE-2022-27664", "pkg:golang/x@1"))
	})
}
