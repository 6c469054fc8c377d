// Package feedtest serves, for tests, a faithful local copy of the
// CVEProject/cvelistV5 release feed built from the real vulnrichment data in
// ../shared/data/cve.
//
// What is built (once per process, cached across runs under the user cache
// directory, keyed by the data files and a builder version):
//
//   - vulnrichment-baseline.tar.gz (42,809 records, 2024-10-22) becomes the
//     baseline asset 2024-10-22_all_CVEs_at_midnight.zip.zip: a zip holding
//     cves.zip, which holds cves/YYYY/NNxxx/CVE-*.json plus cves/delta.json
//     and cves/deltaLog.json, as cvelistV5 publishes it.
//   - each of the 40 vulnrichment deltas becomes one hourly release
//     cve_YYYY-MM-DD_HHMMZ (named from the delta's commit time) with a
//     delta asset YYYY-MM-DD_delta_CVEs_at_HHMMZ.zip. Deltas are CUMULATIVE
//     since midnight UTC of their day, records under deltaCves/, because
//     that is what cvelistV5's hourly deltas are: a consumer that, like a
//     real one, applies only the day's newest delta must still end up with
//     the right state, and one that applies all of them in order re-sends
//     records, as it would against GitHub. Releases of 2024-10-22 also list
//     the baseline, as every release of a day lists that day's baseline.
//   - deltaLog.json, served at /cves/deltaLog.json: one entry per delta
//     (newest first) with the new and updated CVE IDs and dateUpdated, in
//     the repository's format.
//
// Known simplifications: the snapshot called "midnight" is the tree as of
// commit 3cadf2e (early on 2024-10-22), so the day's first cumulative delta
// starts from that commit rather than from 00:00; there are no baselines for
// 2024-10-23 and 2024-10-24 and no end-of-day deltas (the data holds no
// such snapshots). Baseline + the deltas in order reproduce
// vulnrichment-records.tar.gz file for file.
package feedtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/shareddata"
)

// AssetInfo describes one built asset.
type AssetInfo struct {
	// Name is the asset's file name.
	Name string `json:"name"`
	// Tag is the release tag that first lists it.
	Tag string `json:"tag"`
	// Kind is "baseline" or "delta".
	Kind string `json:"kind"`
	// Time is the moment the asset is current as of (the commit time for
	// deltas).
	Time time.Time `json:"time"`
	// Records is the number of CVE records in the asset.
	Records int `json:"records"`
	// Changes is the number of records the underlying commit changed
	// (deltas only).
	Changes int `json:"changes,omitempty"`
	// Commit is the vulnrichment commit of a delta.
	Commit string `json:"commit,omitempty"`
	// Path is the asset file, relative to the cache directory until New
	// makes it absolute.
	Path string `json:"path"`
}

// Feed is a running local copy of the feed.
type Feed struct {
	// URL is the releases API root, for feed.Config.BaseURL.
	URL string
	// Baseline is the baseline asset.
	Baseline AssetInfo
	// Deltas are the delta assets, oldest first.
	Deltas []AssetInfo

	srv      *httptest.Server
	log      []json.RawMessage
	exposed  atomic.Int64
	mu       sync.Mutex
	requests map[string]int
	fail     atomic.Int64
}

// New serves the whole feed (all deltas exposed) until the test ends.
func New(tb testing.TB) *Feed {
	tb.Helper()
	dir := cacheDir(tb)
	var m manifest
	if err := readJSON(filepath.Join(dir, "manifest.json"), &m); err != nil {
		tb.Fatalf("feedtest: %v", err)
	}
	f := &Feed{Baseline: m.Baseline, Deltas: m.Deltas, log: m.DeltaLog, requests: map[string]int{}}
	f.Baseline.Path = filepath.Join(dir, f.Baseline.Path)
	for i := range f.Deltas {
		f.Deltas[i].Path = filepath.Join(dir, f.Deltas[i].Path)
	}
	f.exposed.Store(int64(len(f.Deltas)))
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	f.URL = f.srv.URL + "/repos/CVEProject/cvelistV5"
	return f
}

// Expose makes only the first k deltas (and their releases) visible, so a
// test can advance time. k is clamped to [0, len(Deltas)].
func (f *Feed) Expose(k int) {
	f.exposed.Store(int64(min(max(k, 0), len(f.Deltas))))
}

// Exposed returns how many deltas are visible.
func (f *Feed) Exposed() int { return int(f.exposed.Load()) }

// FailNext makes the next n asset downloads answer 503, to exercise
// retries.
func (f *Feed) FailNext(n int) { f.fail.Store(int64(n)) }

// Requests returns how many requests were made to paths starting with
// prefix ("/repos/CVEProject/cvelistV5/releases", "/download/").
func (f *Feed) Requests(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for p, c := range f.requests {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// MirrorDir copies the baseline and the first k deltas into a fresh
// directory, as an air-gapped mirror of the release assets.
func (f *Feed) MirrorDir(tb testing.TB, k int) string {
	tb.Helper()
	dir := tb.TempDir()
	assets := append([]AssetInfo{f.Baseline}, f.Deltas[:min(max(k, 0), len(f.Deltas))]...)
	for _, a := range assets {
		data, err := os.ReadFile(a.Path)
		if err != nil {
			tb.Fatalf("feedtest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, a.Name), data, 0o644); err != nil {
			tb.Fatalf("feedtest: %v", err)
		}
	}
	return dir
}

// ghRelease and ghAsset are the GitHub Releases API shapes served.
type ghRelease struct {
	ID          int       `json:"id"`
	TagName     string    `json:"tag_name"`
	Name        string    `json:"name"`
	Draft       bool      `json:"draft"`
	Prerelease  bool      `json:"prerelease"`
	CreatedAt   time.Time `json:"created_at"`
	PublishedAt time.Time `json:"published_at"`
	Assets      []ghAsset `json:"assets"`
}

type ghAsset struct {
	Name               string `json:"name"`
	Size               int64  `json:"size"`
	ContentType        string `json:"content_type"`
	BrowserDownloadURL string `json:"browser_download_url"`
}

// releases returns the visible releases, newest first.
func (f *Feed) releases() ([]ghRelease, error) {
	asset := func(a AssetInfo) (ghAsset, error) {
		fi, err := os.Stat(a.Path)
		if err != nil {
			return ghAsset{}, err
		}
		return ghAsset{Name: a.Name, Size: fi.Size(), ContentType: "application/zip",
			BrowserDownloadURL: f.srv.URL + "/download/" + a.Tag + "/" + a.Name}, nil
	}
	base, err := asset(f.Baseline)
	if err != nil {
		return nil, err
	}
	out := []ghRelease{{ID: 1, TagName: f.Baseline.Tag, Name: "CVE " + strings.TrimPrefix(f.Baseline.Tag, "cve_"),
		CreatedAt: f.Baseline.Time, PublishedAt: f.Baseline.Time, Assets: []ghAsset{base}}}
	for i, d := range f.Deltas[:f.Exposed()] {
		da, err := asset(d)
		if err != nil {
			return nil, err
		}
		r := ghRelease{ID: i + 2, TagName: d.Tag, Name: "CVE " + strings.TrimPrefix(d.Tag, "cve_"),
			CreatedAt: d.Time, PublishedAt: d.Time.Add(time.Minute), Assets: []ghAsset{da}}
		if d.Time.Truncate(24 * time.Hour).Equal(f.Baseline.Time) {
			r.Assets = append([]ghAsset{base}, r.Assets...)
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

func (f *Feed) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests[r.URL.Path]++
	f.mu.Unlock()
	switch {
	case r.URL.Path == "/repos/CVEProject/cvelistV5/releases":
		f.serveReleases(w, r)
	case strings.HasPrefix(r.URL.Path, "/download/"):
		f.serveAsset(w, r)
	case r.URL.Path == "/cves/deltaLog.json":
		k := f.Exposed()
		entries := make([]json.RawMessage, 0, k)
		for i := k - 1; i >= 0; i-- {
			entries = append(entries, f.log[i])
		}
		writeJSONResponse(w, r, entries)
	default:
		http.NotFound(w, r)
	}
}

func (f *Feed) serveReleases(w http.ResponseWriter, r *http.Request) {
	perPage, page := 30, 1
	if v, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && v > 0 {
		page = v
	}
	all, err := f.releases()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	from := min((page-1)*perPage, len(all))
	to := min(from+perPage, len(all))
	writeJSONResponse(w, r, all[from:to])
}

func (f *Feed) serveAsset(w http.ResponseWriter, r *http.Request) {
	if f.fail.Load() > 0 && f.fail.Add(-1) >= 0 {
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
		return
	}
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	for _, a := range append([]AssetInfo{f.Baseline}, f.Deltas[:f.Exposed()]...) {
		if a.Name == name && r.URL.Path == "/download/"+a.Tag+"/"+a.Name {
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeFile(w, r, a.Path)
			return
		}
	}
	http.NotFound(w, r)
}

// writeJSONResponse writes v with an ETag and honours If-None-Match.
func writeJSONResponse(w http.ResponseWriter, r *http.Request, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// A failed write means the client under test hung up; it sees that itself.
	_, _ = w.Write(body)
}

var (
	expectedOnce sync.Once
	expected     map[string]Version
	expectedErr  error
)

// Expected returns the final state baseline + all deltas must produce:
// every record of vulnrichment-records.tar.gz (44,130, 104 REJECTED) by
// CVE ID. The map is shared: do not modify it.
func Expected(tb testing.TB) map[string]Version {
	tb.Helper()
	dir := cacheDir(tb)
	expectedOnce.Do(func() {
		expectedErr = readJSON(filepath.Join(dir, "expected.json"), &expected)
	})
	if expectedErr != nil {
		tb.Fatalf("feedtest: %v", expectedErr)
	}
	return expected
}

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// cacheDir builds the feed once per process (and reuses an earlier
// process's build) and returns its directory.
func cacheDir(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() { builtDir, buildErr = ensureBuilt() })
	if buildErr != nil {
		tb.Fatalf("feedtest: %v", buildErr)
	}
	return builtDir
}

func ensureBuilt() (string, error) {
	data, err := shareddata.Dir()
	if err != nil {
		return "", err
	}
	cveDir := filepath.Join(data, "cve")
	h := sha256.New()
	_, _ = fmt.Fprintln(h, builderVersion) // hash writes never fail
	for _, name := range []string{"vulnrichment-baseline.tar.gz", "vulnrichment-deltas.tar.gz", "vulnrichment-records.tar.gz"} {
		fi, err := os.Stat(filepath.Join(cveDir, name))
		if err != nil {
			return "", fmt.Errorf("%w: %v", errNoData, err)
		}
		_, _ = fmt.Fprintln(h, name, fi.Size(), fi.ModTime().UnixNano())
	}
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	final := filepath.Join(root, "kubeward", "feedtest", hex.EncodeToString(h.Sum(nil)[:8]))
	if _, err := os.Stat(filepath.Join(final, "expected.json")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), "build-*")
	if err != nil {
		return "", err
	}
	if err := build(cveDir, tmp); err != nil {
		return "", errors.Join(err, os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process finished first; use its build.
		rmErr := os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(final, "expected.json")); serr != nil {
			return "", errors.Join(fmt.Errorf("installing the built feed: %w", err), rmErr)
		}
	}
	return final, nil
}

// DataDir returns the shared test data directory. It delegates to
// shareddata.Dir and is kept for this package's callers that need the
// directory itself.
func DataDir() (string, error) { return shareddata.Dir() }
