package kev

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/shareddata"
)

var update = flag.Bool("update", false, "rewrite testdata/catalog.golden.json")

// TestParseRealCatalog parses the real CISA catalog and compares every
// entry with an independent generic decode of the same file.
func TestParseRealCatalog(t *testing.T) {
	data := shareddata.Read(t, "kev/known_exploited_vulnerabilities.json")
	cat, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var generic struct {
		CatalogVersion  string           `json:"catalogVersion"`
		Count           int              `json:"count"`
		Vulnerabilities []map[string]any `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	if len(cat.Invalid) != 0 {
		t.Errorf("real catalog has %d invalid fields, first: %v", len(cat.Invalid), cat.Invalid[0])
	}
	if cat.Version != generic.CatalogVersion || cat.Count != generic.Count || len(cat.Entries) != len(generic.Vulnerabilities) {
		t.Fatalf("catalog %s count %d entries %d; generic %s %d %d", cat.Version, cat.Count, len(cat.Entries),
			generic.CatalogVersion, generic.Count, len(generic.Vulnerabilities))
	}
	// The data README documents 1,404 entries in catalog 2025.08.25.
	if cat.Count != 1404 || cat.Version != "2025.08.25" {
		t.Errorf("catalog %s with %d entries, want 2025.08.25 with 1404", cat.Version, cat.Count)
	}
	if want := time.Date(2025, 8, 25, 17, 4, 19, 979600000, time.UTC); !cat.DateReleased.Equal(want) {
		t.Errorf("DateReleased = %v, want %v", cat.DateReleased, want)
	}
	for i, e := range cat.Entries {
		g := generic.Vulnerabilities[i]
		str := func(k string) string { s, _ := g[k].(string); return s }
		if e.CVEID != str("cveID") || e.VendorProject != str("vendorProject") || e.Product != str("product") ||
			e.VulnerabilityName != str("vulnerabilityName") || e.ShortDescription != str("shortDescription") ||
			e.RequiredAction != str("requiredAction") || e.KnownRansomwareCampaignUse != str("knownRansomwareCampaignUse") ||
			e.Notes != str("notes") || e.DateAdded.Format(time.DateOnly) != str("dateAdded") ||
			e.DueDate.Format(time.DateOnly) != str("dueDate") {
			t.Errorf("entry %d %s differs from the generic decode", i, e.CVEID)
		}
		cwes, _ := g["cwes"].([]any)
		if len(cwes) != len(e.CWEs) {
			t.Errorf("entry %d %s: %d CWEs, generic %d", i, e.CVEID, len(e.CWEs), len(cwes))
		}
	}
}

// TestParseGolden parses a hand-written catalog with one problem of each
// kind and compares the result with testdata/catalog.golden.json.
func TestParseGolden(t *testing.T) {
	f, err := os.Open("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	type golden struct {
		Catalog Catalog  `json:"catalog"`
		Errors  []string `json:"errors"`
	}
	g := golden{Catalog: cat}
	for _, e := range cat.Invalid {
		if !errors.Is(e, ErrInvalidEntry) {
			t.Errorf("%v does not wrap ErrInvalidEntry", e)
		}
		g.Errors = append(g.Errors, e.Error())
	}
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const path = "testdata/catalog.golden.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test -run TestParseGolden -update creates it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("result differs from %s; got:\n%s", path, got)
	}
}

func TestParseErrors(t *testing.T) {
	const entry = `{"cveID":"CVE-2099-0001","vendorProject":"v","product":"p","vulnerabilityName":"n","dateAdded":"2099-01-01",
"shortDescription":"d","requiredAction":"a","dueDate":"2099-01-22","knownRansomwareCampaignUse":"Unknown"}`
	tests := []struct {
		name, in string
		want     error
		message  string
	}{
		{"empty", ``, ErrMalformed, "unexpected end"},
		{"truncated", `{"catalogVersion":"1","vulnerabilities":[` + entry, ErrMalformed, ""},
		{"not an object", `[]`, ErrMalformed, ""},
		{"count a string", `{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","count":"1","vulnerabilities":[` + entry + `]}`, ErrMalformed, ""},
		{"entry not an object", `{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","count":1,"vulnerabilities":[1]}`, ErrMalformed, ""},
		{"no version", `{"dateReleased":"2099-01-02T00:00:00Z","count":1,"vulnerabilities":[` + entry + `]}`, ErrInvalidCatalog, "catalogVersion is missing"},
		{"no dateReleased", `{"catalogVersion":"1","count":1,"vulnerabilities":[` + entry + `]}`, ErrInvalidCatalog, "dateReleased is missing"},
		{"bad dateReleased", `{"catalogVersion":"1","dateReleased":"2099-01-02","count":1,"vulnerabilities":[` + entry + `]}`, ErrInvalidCatalog, "RFC 3339"},
		{"no vulnerabilities", `{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","count":0}`, ErrInvalidCatalog, "vulnerabilities is missing"},
		{"count mismatch", `{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","count":2,"vulnerabilities":[` + entry + `]}`, ErrInvalidCatalog, "count is 2 but it has 1 entries"},
		{"count missing", `{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","vulnerabilities":[` + entry + `]}`, ErrInvalidCatalog, "count is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("Parse error = %v, want %v containing %q", err, tt.want, tt.message)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		cat, err := Parse(strings.NewReader(`{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","count":1,"vulnerabilities":[` + entry + `]}`))
		if err != nil || len(cat.Entries) != 1 || len(cat.Invalid) != 0 {
			t.Errorf("Parse = %+v, %v", cat, err)
		}
	})
}

// TestParseTooLarge checks the size limit without allocating it all in
// the test: a reader that never ends.
func TestParseTooLarge(t *testing.T) {
	_, err := Parse(endless{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Parse(endless) = %v, want a size error", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
