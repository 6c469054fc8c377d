package envoygateway_test

import (
	"errors"
	"testing"

	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/envoygateway"
)

// FuzzValidate feeds request parameters (untrusted API input) to Validate:
// it must accept or reject with ErrInvalid, never panic.
func FuzzValidate(f *testing.F) {
	f.Add("10", "Second", "192.0.2.0/24")
	f.Add("0", "Week", "")
	f.Add("2147483648", "Minute", "::ffff:1.2.3.4/120")
	f.Fuzz(func(t *testing.T, requests, unit, cidr string) {
		params := map[string]string{"requests": requests, "unit": unit}
		if cidr != "" {
			params["source-cidr"] = cidr
		}
		err := envoygateway.New(nil).Validate(respond.Request{Target: respond.Target{Kind: "HTTPRoute", Namespace: "ns", Name: "r"}, Params: params})
		if err != nil && !errors.Is(err, respond.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}
