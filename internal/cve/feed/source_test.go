package feed

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/cve/feedtest"
)

func TestListingStopsPaging(t *testing.T) {
	f := feedtest.New(t)
	base, err := url.Parse(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	const perPage = 5
	listPath := base.Path + "/releases"
	// Releases are listed newest first, one per delta plus the baseline's
	// own. A first run must list every delta after the baseline; the
	// local feed has no end-of-day delta at the baseline's midnight, so
	// that means every page.
	releases := len(f.Deltas) + 1
	last := f.Deltas[len(f.Deltas)-1]
	tests := []struct {
		name  string
		pos   *Position
		pages int
	}{
		{"first run lists back to the baseline", nil, releases/perPage + 1},
		{"up to date stops at the position", &Position{Asset: last.Name, AssetTime: last.Time.Truncate(time.Minute)}, 1},
		{"position 12 deltas back", &Position{Asset: f.Deltas[len(f.Deltas)-13].Name, AssetTime: f.Deltas[len(f.Deltas)-13].Time.Truncate(time.Minute)}, 3},
	}
	cfg := Config{BaseURL: f.URL, PerPage: perPage, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.withDefaults()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newGitHubSource(base, cfg, cfg.Logger)
			before := f.Requests(listPath)
			assets, err := src.list(context.Background(), tt.pos)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Requests(listPath) - before; got != tt.pages {
				t.Errorf("read %d release pages, want %d", got, tt.pages)
			}
			// What was listed is enough to plan the same sync as the full
			// listing gives.
			got, _, err := plan(assets, tt.pos, true)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := plan(fullListing(f), tt.pos, true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), names(want)) {
				t.Errorf("plan from the partial listing = %v, want %v", names(got), names(want))
			}
		})
	}
}

// fullListing lists every asset of the feed from its files.
func fullListing(f *feedtest.Feed) []Asset {
	var out []Asset
	for _, a := range append([]feedtest.AssetInfo{f.Baseline}, f.Deltas...) {
		pa, ok := ParseAssetName(a.Name)
		if !ok {
			panic(a.Name)
		}
		out = append(out, pa)
	}
	return out
}

func names(as []Asset) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func TestNewSource(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		base    string
		wantDir bool
		ok      bool
	}{
		{dir, true, true},
		{"file://" + dir, true, true},
		{"https://api.github.com/repos/CVEProject/cvelistV5", false, true},
		{"http://127.0.0.1:1/x", false, true},
		{"ftp://example.com/x", false, false},
		{filepath.Join(dir, "missing"), false, false},
		{"http://", false, false},
	}
	for _, tt := range tests {
		src, err := newSource(Config{BaseURL: tt.base}.withDefaults())
		if (err == nil) != tt.ok {
			t.Errorf("newSource(%q) err = %v, want ok=%v", tt.base, err, tt.ok)
			continue
		}
		if _, isDir := src.(dirSource); err == nil && isDir != tt.wantDir {
			t.Errorf("newSource(%q) = %T", tt.base, src)
		}
	}
}
