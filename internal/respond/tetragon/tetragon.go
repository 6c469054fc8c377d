// Package tetragon manages Tetragon TracingPolicy and TracingPolicyNamespaced
// objects (cilium.io/v1alpha1) as response actions: apply creates a policy
// from a user-supplied spec, revert (or TTL expiry) deletes exactly the
// version kubeward created, and List shows the policies kubeward manages.
package tetragon

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/owned"
)

// Kind is the action kind this package executes.
const Kind respond.Kind = "tetragon-tracing-policy"

// ParamSpec is the Request.Params key holding the policy spec (YAML or JSON).
const ParamSpec = "spec"

// MaxSpecBytes bounds the size of a spec.
const MaxSpecBytes = 256 << 10

// Resources of the two policy kinds.
var (
	TracingPolicies           = schema.GroupVersionResource{Group: "cilium.io", Version: "v1alpha1", Resource: "tracingpolicies"}
	TracingPoliciesNamespaced = schema.GroupVersionResource{Group: "cilium.io", Version: "v1alpha1", Resource: "tracingpoliciesnamespaced"}
)

// hookSections are the spec sections that make Tetragon observe something;
// a spec needs at least one.
var hookSections = []string{"kprobes", "tracepoints", "uprobes", "lsmhooks", "usdts"}

// ParseSpec decodes a TracingPolicy spec from YAML or JSON. It must be an
// object with at least one hook section (kprobes, tracepoints, uprobes,
// lsmhooks or usdts) that is a non-empty list. Field-level validation is
// left to the apiserver and Tetragon's CRD schema.
func ParseSpec(src string) (map[string]any, error) {
	if len(src) > MaxSpecBytes {
		return nil, fmt.Errorf("%w: spec is %d bytes, the limit is %d", respond.ErrInvalid, len(src), MaxSpecBytes)
	}
	j, err := yaml.YAMLToJSON([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("%w: spec is neither YAML nor JSON: %w", respond.ErrInvalid, err)
	}
	var spec map[string]any
	if err := json.Unmarshal(j, &spec); err != nil || spec == nil {
		return nil, fmt.Errorf("%w: spec must be an object (the content of a TracingPolicy's spec:)", respond.ErrInvalid)
	}
	for _, s := range hookSections {
		if l, ok := spec[s].([]any); ok && len(l) > 0 {
			return spec, nil
		}
	}
	return nil, fmt.Errorf("%w: spec has no hook; give at least one non-empty list among %v", respond.ErrInvalid, hookSections)
}

// Policy is a TracingPolicy kubeward manages.
type Policy struct {
	// Kind is TracingPolicy or TracingPolicyNamespaced.
	Kind string
	// Namespace is empty for a TracingPolicy.
	Namespace string
	// Name of the policy.
	Name string
	// ActionID is the action that created it.
	ActionID string
}

// Executor implements respond.Executor for Kind.
type Executor struct {
	owned *owned.Client
}

// New returns an Executor using dyn.
func New(dyn dynamic.Interface) *Executor { return &Executor{owned: owned.New(dyn)} }

// Validate implements respond.Executor: the target is a TracingPolicy
// (cluster-scoped, no namespace) or TracingPolicyNamespaced named by a DNS
// subdomain, and Params holds only a valid spec.
func (e *Executor) Validate(req respond.Request) error {
	_, _, err := build(respond.Action{Request: req})
	return err
}

func build(a respond.Action) (schema.GroupVersionResource, *unstructured.Unstructured, error) {
	t := a.Target
	var gvr schema.GroupVersionResource
	switch {
	case t.Kind == "TracingPolicy" && t.Namespace == "":
		gvr = TracingPolicies
	case t.Kind == "TracingPolicyNamespaced" && t.Namespace != "":
		gvr = TracingPoliciesNamespaced
	default:
		return gvr, nil, fmt.Errorf("%w: %s targets a TracingPolicy (without namespace) or a TracingPolicyNamespaced (with one), not %q in namespace %q",
			respond.ErrInvalid, Kind, t.Kind, t.Namespace)
	}
	if errs := validation.IsDNS1123Subdomain(t.Name); len(errs) > 0 {
		return gvr, nil, fmt.Errorf("%w: policy name %q: %v", respond.ErrInvalid, t.Name, errs)
	}
	for k := range a.Params {
		if k != ParamSpec {
			return gvr, nil, fmt.Errorf("%w: unknown parameter %q; only %q is accepted", respond.ErrInvalid, k, ParamSpec)
		}
	}
	spec, err := ParseSpec(a.Params[ParamSpec])
	if err != nil {
		return gvr, nil, err
	}
	meta := map[string]any{"name": t.Name}
	if t.Namespace != "" {
		meta["namespace"] = t.Namespace
	}
	return gvr, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v1alpha1", "kind": t.Kind, "metadata": meta, "spec": spec,
	}}, nil
}

// Apply implements respond.Executor.
func (e *Executor) Apply(ctx context.Context, a respond.Action) (json.RawMessage, error) {
	gvr, obj, err := build(a)
	if err != nil {
		return nil, err
	}
	return e.owned.Create(ctx, gvr, obj, a)
}

// Revert implements respond.Executor.
func (e *Executor) Revert(ctx context.Context, a respond.Action) error {
	return e.owned.Delete(ctx, a)
}

// List returns the TracingPolicies and TracingPolicyNamespaced objects
// kubeward manages (in every namespace).
func (e *Executor) List(ctx context.Context) ([]Policy, error) {
	var out []Policy
	for kind, gvr := range map[string]schema.GroupVersionResource{"TracingPolicy": TracingPolicies, "TracingPolicyNamespaced": TracingPoliciesNamespaced} {
		items, err := e.owned.List(ctx, gvr, "")
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out = append(out, Policy{Kind: kind, Namespace: it.GetNamespace(), Name: it.GetName(), ActionID: it.GetAnnotations()[owned.ActionAnnotation]})
		}
	}
	slices.SortFunc(out, func(a, b Policy) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}
