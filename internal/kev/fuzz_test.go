package kev

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/kubeward/kubeward/internal/cve"
)

// FuzzParse checks that Parse never panics, fails only with its own
// errors, and that every returned entry has a valid, unique CVE ID.
// Seeds: testdata/catalog.json and the corpus in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/catalog.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"catalogVersion":"1","dateReleased":"2099-01-02T00:00:00Z","count":0,"vulnerabilities":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cat, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidCatalog) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range cat.Entries {
			if !cve.ValidID(e.CVEID) || seen[e.CVEID] {
				t.Fatalf("invalid or repeated entry ID %q", e.CVEID)
			}
			seen[e.CVEID] = true
		}
		if len(cat.Entries) > cat.Count {
			t.Fatalf("%d entries, count %d", len(cat.Entries), cat.Count)
		}
		for _, e := range cat.Invalid {
			_ = e.Error()
		}
	})
}
