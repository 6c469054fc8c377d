package ingressnginx_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/respond"
)

// FuzzValidate feeds request parameters (untrusted API input) to Validate:
// it must accept or reject with ErrInvalid, never panic, and an accepted
// whitelist must not carry spaces into the annotation.
func FuzzValidate(f *testing.F) {
	f.Add("limit-rps", "10", "limit-whitelist", "10.0.0.0/8, 192.0.2.1")
	f.Add("limit-rpm", "99999999999", "limit-burst-multiplier", "2")
	f.Add("limit-connections", "+5", "limit-whitelist", ",")
	ex := mustNew(f, nil, "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		req := respond.Request{Target: respond.Target{Kind: "Ingress", Namespace: "ns", Name: "web"}, Params: map[string]string{k1: v1, k2: v2}}
		err := ex.Validate(req)
		if err != nil && !errors.Is(err, respond.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		if err == nil && strings.Contains(req.Params["limit-whitelist"], "\n") {
			t.Fatalf("newline accepted in whitelist %q", req.Params["limit-whitelist"])
		}
	})
}
