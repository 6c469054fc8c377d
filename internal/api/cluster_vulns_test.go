package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/exposure"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
)

// staticInventory is a cluster image inventory without an apiserver.
type staticInventory []cluster.WorkloadImages

func (s staticInventory) Images(f cluster.ImageFilter) ([]cluster.WorkloadImages, error) {
	var out []cluster.WorkloadImages
	for _, w := range s {
		if f.Namespace == "" || w.Namespace == f.Namespace {
			out = append(out, w)
		}
	}
	return out, nil
}

// newClusterVulnEnv serves the route over a real exposure.Finder: a
// cluster of two workloads and a scan service whose memory store holds a
// done scan of each one's image.
func newClusterVulnEnv(t *testing.T) *authEnv {
	t.Helper()
	ctx := context.Background()
	digest := "sha256:" + strings.Repeat("5e", 32)
	mem := job.NewMemory()
	for i, target := range []string{"index.docker.io/library/nginx@" + digest, "registry.example/team/app:1"} {
		s := job.Scan{ID: strings.Repeat("0", 31) + string(rune('1'+i)), State: job.StateQueued, Kind: job.KindImage, Target: target, CreatedAt: jobtest.Base}
		if err := mem.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := mem.Start(ctx, s.ID, jobtest.Base); err != nil {
			t.Fatal(err)
		}
		if err := mem.Complete(ctx, s.ID, jobtest.Base.Add(time.Second), jobtest.SampleResult(3, 10-7*i)); err != nil {
			t.Fatal(err)
		}
	}
	b := inproc.New(inproc.Options{Logger: quietLog})
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close bus: %v", err)
		}
	})
	svc, err := job.New(job.Config{Store: mem, Matcher: &scan.Matcher{}, Publisher: b, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	inv := staticInventory{
		{Kind: "Pod", Namespace: "other", Name: "solo", Pods: 1, Running: []cluster.RunningImage{{Image: "registry.example/team/app:1", ImageID: "sha256:" + strings.Repeat("0c", 32), Pods: 1}}},
		{Kind: "Deployment", Namespace: "shop", Name: "web", Pods: 2, Running: []cluster.RunningImage{{Image: "nginx:1.27", ImageID: "docker.io/library/nginx@" + digest, Digest: digest, Pods: 2}}},
	}
	e := newAuthEnv(t)
	e.api.ExtraRoutes = ClusterVulnRoutes(ClusterVulnDeps{Finder: exposure.NewFinder(inv, svc), Logger: quietLog})
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// vulnRow is the part of a VulnerableWorkload the tests read back.
type vulnRow struct {
	Workload string            `json:"workload"`
	Image    string            `json:"image"`
	Pods     int               `json:"pods"`
	ScanID   string            `json:"scan_id"`
	Findings []json.RawMessage `json:"findings"`
}

func TestClusterVulnRoute(t *testing.T) {
	e := newClusterVulnEnv(t)
	viewer := e.login(auth.RoleViewer).AccessToken
	type row struct {
		workload string
		findings int
	}
	tests := []struct {
		query         string
		rows          []row
		total         int
		limit, offset int
	}{
		{"", []row{{"solo", 3}, {"web", 10}}, 2, job.DefaultLimit, 0},
		// CVE-2026-1005 is the sixth finding: only the 10-finding scan has it.
		{"?advisory=cve-2026-1005", []row{{"web", 1}}, 1, job.DefaultLimit, 0},
		// GHSA-0002 is the alias of the third finding of both scans.
		{"?advisory=GHSA-0002", []row{{"solo", 1}, {"web", 1}}, 2, job.DefaultLimit, 0},
		// SampleResult's severities: 10 findings hold 2 critical, 3 at least high…
		{"?severity=critical&namespace=shop", []row{{"web", 2}}, 1, job.DefaultLimit, 0},
		{"?namespace=other&severity=high", []row{{"solo", 1}}, 1, job.DefaultLimit, 0},
		{"?limit=1&offset=1", []row{{"web", 10}}, 2, 1, 1},
		{"?advisory=CVE-1999-0001", nil, 0, job.DefaultLimit, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, _, body := e.do("GET", "/api/v1/cluster/vulnerabilities"+tt.query, viewer, nil)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			list := decodeList[vulnRow](t, body)
			var got []row
			for _, x := range list.Items {
				got = append(got, row{x.Workload, len(x.Findings)})
				if x.ScanID == "" || x.Pods == 0 || x.Image == "" {
					t.Errorf("row %+v lacks its scan, pods or image", x)
				}
			}
			if list.Total != tt.total || list.Limit != tt.limit || list.Offset != tt.offset || len(got) != len(tt.rows) {
				t.Fatalf("total %d limit %d offset %d rows %v; want %d %d %d %v", list.Total, list.Limit, list.Offset, got, tt.total, tt.limit, tt.offset, tt.rows)
			}
			for i := range got {
				if got[i] != tt.rows[i] {
					t.Errorf("row %d = %+v, want %+v", i, got[i], tt.rows[i])
				}
			}
		})
	}
}

func TestClusterVulnRouteRefusals(t *testing.T) {
	e := newClusterVulnEnv(t)
	viewer := e.login(auth.RoleViewer).AccessToken
	for _, tt := range []struct {
		query, token string
		status       int
	}{
		{"", "", http.StatusUnauthorized},
		{"?severity=dire", viewer, http.StatusBadRequest},
		{"?limit=0", viewer, http.StatusBadRequest},
		{"?limit=1001", viewer, http.StatusBadRequest},
		{"?offset=-1", viewer, http.StatusBadRequest},
		{"?advisory=" + strings.Repeat("A", 300), viewer, http.StatusBadRequest},
	} {
		code, hdr, body := e.do("GET", "/api/v1/cluster/vulnerabilities"+tt.query, tt.token, nil)
		if code != tt.status {
			t.Errorf("%q: status %d, want %d: %s", tt.query, code, tt.status, body)
		}
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%q: Content-Type %q, want problem+json", tt.query, ct)
		}
	}
	// Without a cluster or scan service the route answers 503.
	off := newAuthEnv(t)
	off.api.ExtraRoutes = ClusterVulnRoutes(ClusterVulnDeps{})
	off.srv = httptest.NewServer(off.api.Handler())
	t.Cleanup(off.srv.Close)
	if code, _, body := off.do("GET", "/api/v1/cluster/vulnerabilities", off.login(auth.RoleViewer).AccessToken, nil); code != http.StatusServiceUnavailable {
		t.Errorf("without a finder: status %d, want 503: %s", code, body)
	}
}

// FuzzParseClusterVulnQuery feeds raw query strings to the parser: it
// must not panic, and what it accepts must be a normalized query.
func FuzzParseClusterVulnQuery(f *testing.F) {
	for _, s := range []string{"", "advisory=CVE-2024-1234&severity=high", "namespace=shop&limit=5&offset=10", "severity=moderate", "limit=-1", "advisory=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseClusterVulnQuery(v)
		if err != nil {
			return
		}
		if again, err := q.Normalize(); err != nil || again != q {
			t.Errorf("ParseClusterVulnQuery(%q) = %+v, not normalized (%+v, %v)", raw, q, again, err)
		}
		if q.Limit < 1 || q.Limit > job.MaxLimit || q.Offset < 0 {
			t.Errorf("ParseClusterVulnQuery(%q) = %+v: page out of range", raw, q)
		}
	})
}
