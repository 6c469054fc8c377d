package cluster

import (
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// NetworkPolicies are the NetworkPolicies that apply to a Pod or to the
// Pods of a workload in the service map.
//
// A NetworkPolicy applies to a Pod when it is in the Pod's namespace and its
// podSelector selects the Pod's labels (an empty podSelector selects every
// Pod of the namespace). It applies in the directions its policyTypes name
// (the apiserver fills in omitted policyTypes: Ingress, plus Egress when the
// policy has egress rules). A Pod that at least one policy applies to in a
// direction is isolated in that direction: it gets only the traffic some
// applying policy's rules allow, and none when the rules are empty.
//
// Only selection is evaluated. The policies' rules (from/to peers,
// namespaceSelector, ipBlock, ports) are not: whether a policy admits
// traffic from a given source, for example from an ingress controller's
// namespace to the Pods behind an Ingress, is out of scope, and
// IngressIsolated does not mean "unreachable".
type NetworkPolicies struct {
	// Ingress names the policies that apply in the ingress direction,
	// sorted; for a workload, those that apply to any of its Pods.
	Ingress []string `json:"ingress,omitempty"`
	// Egress names the policies that apply in the egress direction, sorted;
	// for a workload, those that apply to any of its Pods.
	Egress []string `json:"egress,omitempty"`
	// IngressIsolated is true when some policy applies in the ingress
	// direction; for a workload, when that holds for every one of its Pods
	// in the map (a workload whose Pods differ shows the union of their
	// policies with IngressIsolated false).
	IngressIsolated bool `json:"ingressIsolated"`
	// EgressIsolated is IngressIsolated for the egress direction.
	EgressIsolated bool `json:"egressIsolated"`
}

// policySelector is a NetworkPolicy reduced to what selection needs.
type policySelector struct {
	name            string
	sel             labels.Selector
	ingress, egress bool
}

// policyIndex holds the NetworkPolicies of some namespaces by namespace.
type policyIndex map[string][]policySelector

// networkPolicies indexes the cached NetworkPolicies of namespace (all
// namespaces when empty).
func (v *View) networkPolicies(namespace string) (policyIndex, error) {
	lister := v.factory.Networking().V1().NetworkPolicies().Lister()
	var (
		nps []*networkingv1.NetworkPolicy
		err error
	)
	if namespace == "" {
		nps, err = lister.List(labels.Everything())
	} else {
		nps, err = lister.NetworkPolicies(namespace).List(labels.Everything())
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: list network policies: %w", err)
	}
	idx := policyIndex{}
	for _, np := range nps {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			return nil, fmt.Errorf("cluster: NetworkPolicy %s/%s has an invalid podSelector (the apiserver validates it, so the cache is corrupt or the object came from elsewhere; fix or delete the policy): %w", np.Namespace, np.Name, err)
		}
		ps := policySelector{name: np.Name, sel: sel}
		for _, t := range np.Spec.PolicyTypes {
			switch t {
			case networkingv1.PolicyTypeIngress:
				ps.ingress = true
			case networkingv1.PolicyTypeEgress:
				ps.egress = true
			}
		}
		idx[np.Namespace] = append(idx[np.Namespace], ps)
	}
	return idx, nil
}

// forPod returns the policies that apply to a Pod of namespace ns with
// labels l.
func (idx policyIndex) forPod(ns string, l labels.Set) *NetworkPolicies {
	out := &NetworkPolicies{}
	for _, ps := range idx[ns] {
		if !ps.sel.Matches(l) {
			continue
		}
		if ps.ingress {
			out.Ingress = append(out.Ingress, ps.name)
		}
		if ps.egress {
			out.Egress = append(out.Egress, ps.name)
		}
	}
	slices.Sort(out.Ingress)
	slices.Sort(out.Egress)
	out.IngressIsolated = len(out.Ingress) > 0
	out.EgressIsolated = len(out.Egress) > 0
	return out
}

// mergePolicies returns the policies of a workload from those of its Pods:
// the union of the names, isolated in a direction when every Pod is.
func mergePolicies(pods []*NetworkPolicies) *NetworkPolicies {
	out := &NetworkPolicies{IngressIsolated: len(pods) > 0, EgressIsolated: len(pods) > 0}
	for _, p := range pods {
		out.Ingress = append(out.Ingress, p.Ingress...)
		out.Egress = append(out.Egress, p.Egress...)
		out.IngressIsolated = out.IngressIsolated && p.IngressIsolated
		out.EgressIsolated = out.EgressIsolated && p.EgressIsolated
	}
	slices.Sort(out.Ingress)
	slices.Sort(out.Egress)
	out.Ingress = slices.Compact(out.Ingress)
	out.Egress = slices.Compact(out.Egress)
	return out
}

// effectivePolicyTypes returns the directions a NetworkPolicy applies in:
// its policyTypes, or, when it names none, what the apiserver's defaulting
// would fill in (Ingress, plus Egress when it has egress rules).
func effectivePolicyTypes(spec networkingv1.NetworkPolicySpec) []networkingv1.PolicyType {
	if len(spec.PolicyTypes) > 0 {
		return spec.PolicyTypes
	}
	types := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(spec.Egress) > 0 {
		types = append(types, networkingv1.PolicyTypeEgress)
	}
	return types
}
