// Package envoygateway rate-limits an HTTPRoute, GRPCRoute or Gateway served
// by Envoy Gateway by creating a BackendTrafficPolicy
// (gateway.envoyproxy.io/v1alpha1) with a local rate limit that targets it,
// and deleting that policy on revert (through package owned, so a policy
// edited meanwhile is kept and reported as a conflict).
//
// Local rate limits need no rate-limit service; each Envoy replica counts
// on its own, so the effective limit is requests × replicas.
package envoygateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/owned"
)

// Kind is the action kind this package executes.
const Kind respond.Kind = "envoy-gateway-rate-limit"

// Params understood by the executor.
const (
	// ParamRequests is the number of requests allowed per unit (required).
	ParamRequests = "requests"
	// ParamUnit is Second, Minute, Hour or Day (required).
	ParamUnit = "unit"
	// ParamSourceCIDR limits only clients in this range (optional; the
	// whole range shares one budget).
	ParamSourceCIDR = "source-cidr"
)

// BackendTrafficPolicies is the resource the executor creates.
var BackendTrafficPolicies = schema.GroupVersionResource{Group: "gateway.envoyproxy.io", Version: "v1alpha1", Resource: "backendtrafficpolicies"}

const gatewayGroup = "gateway.networking.k8s.io"

// Executor implements respond.Executor for Kind.
type Executor struct {
	owned *owned.Client
}

// New returns an Executor using dyn.
func New(dyn dynamic.Interface) *Executor { return &Executor{owned: owned.New(dyn)} }

// PolicyName returns the name of the policy kubeward creates for a target.
func PolicyName(t respond.Target) string {
	return owned.Name("kubeward-ratelimit-"+strings.ToLower(t.Kind)+"-", t.Name)
}

// Validate implements respond.Executor.
func (e *Executor) Validate(req respond.Request) error {
	_, err := policy(respond.Action{Request: req})
	return err
}

// policy builds the BackendTrafficPolicy for a.
func policy(a respond.Action) (*unstructured.Unstructured, error) {
	t := a.Target
	switch t.Kind {
	case "HTTPRoute", "GRPCRoute", "Gateway":
	default:
		return nil, fmt.Errorf("%w: %s targets an HTTPRoute, GRPCRoute or Gateway, not a %q", respond.ErrInvalid, Kind, t.Kind)
	}
	if t.Namespace == "" {
		return nil, fmt.Errorf("%w: %s needs the %s's namespace", respond.ErrInvalid, Kind, t.Kind)
	}
	for k := range a.Params {
		if k != ParamRequests && k != ParamUnit && k != ParamSourceCIDR {
			return nil, fmt.Errorf("%w: unknown parameter %q; use %s, %s and optionally %s", respond.ErrInvalid, k, ParamRequests, ParamUnit, ParamSourceCIDR)
		}
	}
	n, err := strconv.ParseUint(a.Params[ParamRequests], 10, 31)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("%w: %s must be a positive integer, got %q", respond.ErrInvalid, ParamRequests, a.Params[ParamRequests])
	}
	unit := a.Params[ParamUnit]
	switch unit {
	case "Second", "Minute", "Hour", "Day":
	default:
		return nil, fmt.Errorf("%w: %s must be Second, Minute, Hour or Day, got %q", respond.ErrInvalid, ParamUnit, unit)
	}
	rule := map[string]any{"limit": map[string]any{"requests": int64(n), "unit": unit}}
	if c := a.Params[ParamSourceCIDR]; c != "" {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q is not a CIDR range: %w", respond.ErrInvalid, ParamSourceCIDR, c, err)
		}
		rule["clientSelectors"] = []any{map[string]any{"sourceCIDR": map[string]any{"type": "Exact", "value": p.Masked().String()}}}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.envoyproxy.io/v1alpha1",
		"kind":       "BackendTrafficPolicy",
		"metadata":   map[string]any{"name": PolicyName(t), "namespace": t.Namespace},
		"spec": map[string]any{
			"targetRefs": []any{map[string]any{"group": gatewayGroup, "kind": t.Kind, "name": t.Name}},
			"rateLimit": map[string]any{
				"type":  "Local",
				"local": map[string]any{"rules": []any{rule}},
			},
		},
	}}, nil
}

// Apply implements respond.Executor.
func (e *Executor) Apply(ctx context.Context, a respond.Action) (json.RawMessage, error) {
	obj, err := policy(a)
	if err != nil {
		return nil, err
	}
	return e.owned.Create(ctx, BackendTrafficPolicies, obj, a)
}

// Revert implements respond.Executor.
func (e *Executor) Revert(ctx context.Context, a respond.Action) error {
	return e.owned.Delete(ctx, a)
}
