package api

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// PolicyScanResult is the body of POST /api/v1/policy/scan.
type PolicyScanResult struct {
	Results []policy.Result `json:"results"`
}

// defaultPolicyEngine is the `policy scan` default (PSS restricted, the
// eight best-practice rules with neutral parameters, hardening checks),
// built once.
var defaultPolicyEngine = sync.OnceValues(func() (*policy.Engine, error) {
	return packs.Build(packs.Config{})
})

func init() {
	schemas["PolicyScanResult"] = map[string]any{
		"type": "object", "required": []string{"results"},
		"properties": map[string]any{"results": map[string]any{"type": "array", "items": map[string]any{"type": "object",
			"description": "policy, rule, control, resource, result (pass|fail|skip), severity, message, field, remediation"}}},
	}
	declareRoutes(func(s *Server) []Route {
		return []Route{
			{Method: "POST", Path: "/api/v1/policy/scan", Role: auth.RoleViewer, Handler: s.scanManifests,
				Summary:  "Check uploaded Kubernetes manifests (YAML or JSON, multi-document) against the default policy packs (the seed's detect-smells)",
				Response: "PolicyScanResult"},
		}
	})
}

func (s *Server) scanManifests(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		writeProblem(w, r, http.StatusRequestEntityTooLarge, "manifests larger than the request limit: "+err.Error())
		return
	}
	objs, err := manifest.Decode(&body, "request")
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "manifests: "+err.Error())
		return
	}
	if len(objs) == 0 {
		writeProblem(w, r, http.StatusBadRequest, "the request holds no Kubernetes object")
		return
	}
	engine, err := defaultPolicyEngine()
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	results, err := engine.Evaluate(r.Context(), policy.NewSet(true, objs...))
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if results == nil {
		results = []policy.Result{}
	}
	writeJSON(w, http.StatusOK, PolicyScanResult{Results: results})
}
