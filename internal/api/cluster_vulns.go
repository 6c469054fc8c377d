package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/exposure"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// VulnerableWorkloadFinder answers which workloads run a vulnerable
// image; *exposure.Finder implements it.
type VulnerableWorkloadFinder interface {
	Vulnerable(ctx context.Context, q exposure.Query) (exposure.Page, error)
}

// ClusterVulnDeps are what the cluster vulnerability route needs.
type ClusterVulnDeps struct {
	// Finder joins the cluster's images with their scans; nil (no cluster
	// or no scan service) makes the route answer 503.
	Finder VulnerableWorkloadFinder
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger
}

var clusterVulnQueryParams = []Param{
	{Name: "advisory", Type: "string", Description: "advisory ID or alias a finding must name (CVE-…, GHSA-…, case-insensitive)"},
	{Name: "severity", Type: "string", Description: "least severity kept: none, low, medium, high or critical (unknown: all)"},
	{Name: "namespace", Type: "string", Description: "Kubernetes namespace of the workloads"},
	limitParam, offsetParam,
}

func init() {
	schemas["VulnerableWorkload"] = map[string]any{"type": "object", "description": "an image a workload runs whose latest done scan has the selected findings: kind, namespace, workload, image, digest, pods, scan_id, scan_target, scanned_at, findings (ScanFinding objects, most severe first)"}
	schemas["VulnerableWorkloadList"] = listOf("VulnerableWorkload")
}

type clusterVulnHandler struct{ ClusterVulnDeps }

// ClusterVulnRoutes returns the route for Server.ExtraRoutes that says
// which workloads and Pods run a vulnerable image; viewers may call it.
//
//	GET /api/v1/cluster/vulnerabilities   workloads whose images have findings
func ClusterVulnRoutes(d ClusterVulnDeps) []Route {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &clusterVulnHandler{ClusterVulnDeps: d}
	return []Route{
		{Method: "GET", Path: "/api/v1/cluster/vulnerabilities", Role: auth.RoleViewer, Handler: h.list,
			Summary: "Workloads and Pods running an image whose latest scan has findings (filter by advisory, severity, namespace)",
			Query:   clusterVulnQueryParams, Response: "VulnerableWorkloadList"},
	}
}

// ParseClusterVulnQuery turns URL query parameters into an exposure
// query: advisory, severity (least kept), namespace, limit (1–1000,
// default 50) and offset.
func ParseClusterVulnQuery(v url.Values) (exposure.Query, error) {
	q := exposure.Query{Advisory: v.Get("advisory"), Namespace: v.Get("namespace")}
	if s := v.Get("severity"); s != "" {
		l, err := scan.ParseLevel(s)
		if err != nil {
			return q, fmt.Errorf("severity: %w", err)
		}
		q.MinSeverity = l
	}
	var err error
	if q.Limit, err = parseInt(v.Get("limit"), job.DefaultLimit, 1, job.MaxLimit); err != nil {
		return q, fmt.Errorf("limit: %w", err)
	}
	if q.Offset, err = parseInt(v.Get("offset"), 0, 0, 1<<30); err != nil {
		return q, fmt.Errorf("offset: %w", err)
	}
	return q.Normalize()
}

func (h *clusterVulnHandler) list(w http.ResponseWriter, r *http.Request) {
	if h.Finder == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "vulnerable workloads need a Kubernetes cluster and the scan service (start kubeward serve with a kubeconfig and a vulnerability database: --kubeconfig, --vulndb)")
		return
	}
	q, err := ParseClusterVulnQuery(r.URL.Query())
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.Finder.Vulnerable(r.Context(), q)
	switch {
	case errors.Is(err, exposure.ErrInvalid):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.Logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, r, http.StatusInternalServerError, "the server could not complete the request; see its log")
		return
	}
	writeJSON(w, http.StatusOK, List[exposure.Exposure]{Items: page.Items, Total: page.Total, Limit: q.Limit, Offset: q.Offset})
}
