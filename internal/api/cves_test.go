package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/sqlite"
	"github.com/kubeward/kubeward/internal/store/storetest"
)

func newTestServer(t *testing.T) (*httptest.Server, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	srv := httptest.NewServer((&Server{Store: st, InsecureNoAuth: true}).Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func get(t *testing.T, url string, into any) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	ct := resp.Header.Get("Content-Type")
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: decode %s body: %v", url, ct, err)
		}
	}
	return resp.StatusCode, ct
}

func TestCVERoutes(t *testing.T) {
	srv, st := newTestServer(t)
	recs := storetest.RealRecords(t, 300)
	if _, err := st.UpsertCVEs(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	// Pick a word from a real title so the search has something to find.
	var probe string
	var probeID string
	for _, r := range recs {
		for _, w := range strings.Fields(r.Title) {
			if len(w) > 6 && strings.IndexFunc(w, func(c rune) bool { return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') }) < 0 {
				probe, probeID = w, r.ID
				break
			}
		}
		if probe != "" {
			break
		}
	}
	if probe == "" {
		t.Fatal("no searchable title word in the sample")
	}

	var list CVEList
	if code, ct := get(t, srv.URL+"/api/v1/cves?q="+probe+"&limit=1000", &list); code != 200 || ct != "application/json" {
		t.Fatalf("search: %d %s", code, ct)
	}
	found := false
	for _, it := range list.Items {
		found = found || it.ID == probeID
	}
	if !found || list.Total < 1 || list.Total != len(list.Items) {
		t.Fatalf("search %q: total %d, %d items, want %s among them", probe, list.Total, len(list.Items), probeID)
	}

	var page CVEList
	get(t, srv.URL+"/api/v1/cves?limit=7&offset=7", &page)
	if page.Total != len(recs) || len(page.Items) != 7 || page.Limit != 7 || page.Offset != 7 {
		t.Fatalf("page: total %d items %d limit %d offset %d", page.Total, len(page.Items), page.Limit, page.Offset)
	}

	var d store.CVEDetail
	if code, _ := get(t, srv.URL+"/api/v1/cves/"+strings.ToLower(probeID), &d); code != 200 || d.Record == nil || d.Record.ID != probeID {
		t.Fatalf("get %s: %d %+v", probeID, code, d.Record)
	}

	var stats store.CVEStats
	get(t, srv.URL+"/api/v1/cves/stats", &stats)
	if stats.Records != len(recs) {
		t.Fatalf("stats: %d records, want %d", stats.Records, len(recs))
	}

	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/v1/cves/CVE-1999-99999999", http.StatusNotFound},
		{"/api/v1/cves/not-a-cve", http.StatusBadRequest},
		{"/api/v1/cves?limit=0", http.StatusBadRequest},
		{"/api/v1/cves?limit=1001", http.StatusBadRequest},
		{"/api/v1/cves?severity=urgent", http.StatusBadRequest},
		{"/api/v1/cves?kev=maybe", http.StatusBadRequest},
		{"/api/v1/cves?published_from=yesterday", http.StatusBadRequest},
		{"/api/v1/nothing-here", http.StatusNotFound},
	} {
		var p Problem
		code, ct := get(t, srv.URL+tc.path, &p)
		if code != tc.code || ct != "application/problem+json" || p.Status != tc.code || p.Detail == "" {
			t.Errorf("GET %s: %d %s %+v, want %d problem+json with a detail", tc.path, code, ct, p, tc.code)
		}
	}
}

func TestParseCVEQuery(t *testing.T) {
	q, err := ParseCVEQuery(map[string][]string{
		"q": {" log4j "}, "severity": {"critical,High"}, "kev": {"true"}, "cwe": {"79"},
		"state": {"published"}, "published_from": {"2024-01-01"}, "limit": {"10"}, "offset": {"20"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if q.Text != "log4j" || len(q.Severities) != 2 || q.Severities[1] != "HIGH" || q.KEV == nil || !*q.KEV ||
		q.CWE != "CWE-79" || q.State != "PUBLISHED" || q.PublishedFrom.Year() != 2024 || q.Limit != 10 || q.Offset != 20 {
		t.Fatalf("parsed %+v", q)
	}
}
