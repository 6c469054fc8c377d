package feedtest

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestFeedMatchesData(t *testing.T) {
	f := New(t)
	if f.Baseline.Records != 42809 {
		t.Errorf("baseline records = %d, want 42809 (vulnrichment-baseline.tar.gz)", f.Baseline.Records)
	}
	if len(f.Deltas) != 40 {
		t.Fatalf("deltas = %d, want 40", len(f.Deltas))
	}
	changes := 0
	for i, d := range f.Deltas {
		changes += d.Changes
		if i > 0 && !d.Time.After(f.Deltas[i-1].Time) {
			t.Errorf("delta %s not after %s", d.Name, f.Deltas[i-1].Name)
		}
		if d.Records < d.Changes {
			t.Errorf("cumulative delta %s holds %d records, fewer than its %d changes", d.Name, d.Records, d.Changes)
		}
	}
	if changes != 1321+618 {
		t.Errorf("changes over all deltas = %d, want 1939 (1,321 additions + 618 modifications)", changes)
	}
	exp := Expected(t)
	rejected := 0
	for _, v := range exp {
		if v.State == "REJECTED" {
			rejected++
		}
	}
	if len(exp) != 44130 || rejected != 104 {
		t.Errorf("expected state: %d records, %d rejected; want 44130 and 104", len(exp), rejected)
	}
}

func TestReleasesAPI(t *testing.T) {
	f := New(t)
	tests := []struct {
		name     string
		exposed  int
		query    string
		releases int
	}{
		{"all on one page", 40, "?per_page=100&page=1", 41},
		{"paged", 40, "?per_page=30&page=2", 11},
		{"past the end", 40, "?per_page=100&page=2", 0},
		{"first five deltas", 5, "?per_page=100", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.Expose(tt.exposed)
			resp, err := http.Get(f.URL + "/releases" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var rels []ghRelease
			if err := json.NewDecoder(resp.Body).Decode(&rels); err != nil {
				t.Fatal(err)
			}
			if len(rels) != tt.releases {
				t.Fatalf("got %d releases, want %d", len(rels), tt.releases)
			}
			for i := 1; i < len(rels); i++ {
				if rels[i].CreatedAt.After(rels[i-1].CreatedAt) {
					t.Errorf("releases not newest first at %d", i)
				}
			}
			for _, r := range rels {
				for _, a := range r.Assets {
					ar, err := http.Head(a.BrowserDownloadURL)
					if err != nil {
						t.Fatal(err)
					}
					_ = ar.Body.Close()
					if ar.StatusCode != http.StatusOK || ar.ContentLength != a.Size {
						t.Errorf("asset %s: status %d, length %d, listed size %d", a.Name, ar.StatusCode, ar.ContentLength, a.Size)
					}
				}
			}
		})
	}
}

func TestETag(t *testing.T) {
	f := New(t)
	resp, err := http.Get(f.URL + "/releases")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/releases", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation status %d, want 304", resp2.StatusCode)
	}
	f.Expose(3)
	resp3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp3.Body.Close()
	if resp3.StatusCode != http.StatusOK {
		t.Errorf("after the feed changed: status %d, want 200", resp3.StatusCode)
	}
}
