// Package quarantine isolates a workload with a deny-all NetworkPolicy that
// selects its Pods (no ingress, no egress), and lifts the quarantine by
// deleting that policy. The policy is managed through package owned, so a
// policy a user edited or replaced meanwhile is never deleted.
package quarantine

import (
	"context"
	"encoding/json"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/owned"
)

// Kind is the action kind this package executes.
const Kind respond.Kind = "network-quarantine"

const namePrefix = "kubeward-quarantine-"

var (
	networkPolicies = networkingv1.SchemeGroupVersion.WithResource("networkpolicies")
	workloads       = map[string]schema.GroupVersionResource{
		"Deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
		"StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
		"DaemonSet":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
		"ReplicaSet":  {Group: "apps", Version: "v1", Resource: "replicasets"},
	}
)

// Executor implements respond.Executor for Kind.
type Executor struct {
	dyn   dynamic.Interface
	owned *owned.Client
}

// New returns an Executor using dyn.
func New(dyn dynamic.Interface) *Executor { return &Executor{dyn: dyn, owned: owned.New(dyn)} }

// Validate implements respond.Executor: the target must be a Deployment,
// StatefulSet, DaemonSet or ReplicaSet, and no parameters are accepted.
func (e *Executor) Validate(req respond.Request) error {
	if _, ok := workloads[req.Target.Kind]; !ok {
		return fmt.Errorf("%w: %s quarantines a Deployment, StatefulSet, DaemonSet or ReplicaSet, not a %q", respond.ErrInvalid, Kind, req.Target.Kind)
	}
	if req.Target.Namespace == "" {
		return fmt.Errorf("%w: %s needs the workload's namespace", respond.ErrInvalid, Kind)
	}
	if len(req.Params) > 0 {
		return fmt.Errorf("%w: %s takes no parameters", respond.ErrInvalid, Kind)
	}
	return nil
}

// PolicyName returns the name of the quarantine policy for a workload name
// (shortened with a hash when it would exceed 253 characters).
func PolicyName(workload string) string { return owned.Name(namePrefix, workload) }

// selector returns the Pod selector of the target workload.
func (e *Executor) selector(ctx context.Context, t respond.Target) (*metav1.LabelSelector, error) {
	gvr, ok := workloads[t.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: cannot quarantine a %q", respond.ErrInvalid, t.Kind)
	}
	obj, err := e.dyn.Resource(gvr).Namespace(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read %s %s/%s: %w", t.Kind, t.Namespace, t.Name, err)
	}
	raw, _, err := unstructured.NestedMap(obj.Object, "spec", "selector")
	if err != nil {
		return nil, fmt.Errorf("read the Pod selector of %s %s/%s: %w", t.Kind, t.Namespace, t.Name, err)
	}
	var sel metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &sel); err != nil {
		return nil, fmt.Errorf("decode the Pod selector of %s %s/%s: %w", t.Kind, t.Namespace, t.Name, err)
	}
	if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return nil, fmt.Errorf("%s %s/%s has an empty Pod selector; quarantining it would isolate the whole namespace, so kubeward refuses", t.Kind, t.Namespace, t.Name)
	}
	return &sel, nil
}

// Apply implements respond.Executor.
func (e *Executor) Apply(ctx context.Context, a respond.Action) (json.RawMessage, error) {
	sel, err := e.selector(ctx, a.Target)
	if err != nil {
		return nil, err
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(a.Target.Name), Namespace: a.Target.Namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(np)
	if err != nil {
		return nil, fmt.Errorf("encode NetworkPolicy: %w", err)
	}
	return e.owned.Create(ctx, networkPolicies, &unstructured.Unstructured{Object: u}, a)
}

// Revert implements respond.Executor.
func (e *Executor) Revert(ctx context.Context, a respond.Action) error {
	return e.owned.Delete(ctx, a)
}
