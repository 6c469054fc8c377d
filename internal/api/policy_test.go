package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
)

func TestPolicyScan(t *testing.T) {
	srv, _ := newTestServer(t)
	privileged := `apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: shop}
spec:
  containers:
  - name: app
    image: nginx:latest
    securityContext: {privileged: true}
`
	resp, err := http.Post(srv.URL+"/api/v1/policy/scan", "application/yaml", strings.NewReader(privileged))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out PolicyScanResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("scan: %d %v", resp.StatusCode, err)
	}
	failed := map[string]bool{}
	for _, r := range out.Results {
		if r.Result == policy.Fail {
			failed[r.Control] = true
		}
	}
	if !failed["privileged"] {
		t.Fatalf("a privileged pod must fail the PSS privileged control; failed controls: %v", failed)
	}
	for _, tc := range []struct{ body string }{{"kind: [unclosed"}, {""}} {
		resp, err := http.Post(srv.URL+"/api/v1/policy/scan", "application/yaml", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: %d, want 400", tc.body, resp.StatusCode)
		}
	}
}
