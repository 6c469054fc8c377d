package cluster

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestPolicySelection checks selection and merging without an apiserver:
// Pods no policy selects, policies of other namespaces, and workloads whose
// Pods are isolated differently.
func TestPolicySelection(t *testing.T) {
	mustSel := func(s metav1.LabelSelector) labels.Selector {
		t.Helper()
		sel, err := metav1.LabelSelectorAsSelector(&s)
		if err != nil {
			t.Fatal(err)
		}
		return sel
	}
	idx := policyIndex{
		"shop": {
			{name: "web-in", sel: mustSel(metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}), ingress: true},
			{name: "not-db-out", sel: mustSel(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}}), egress: true},
		},
		"other": {{name: "all", sel: mustSel(metav1.LabelSelector{}), ingress: true, egress: true}},
	}
	none := &NetworkPolicies{}
	webPod := &NetworkPolicies{Ingress: []string{"web-in"}, Egress: []string{"not-db-out"}, IngressIsolated: true, EgressIsolated: true}
	pods := []struct {
		name string
		ns   string
		l    labels.Set
		want *NetworkPolicies
	}{
		{"selected both ways", "shop", labels.Set{"app": "web"}, webPod},
		{"excluded by NotIn", "shop", labels.Set{"app": "db"}, none},
		{"egress only", "shop", labels.Set{"app": "cache"}, &NetworkPolicies{Egress: []string{"not-db-out"}, EgressIsolated: true}},
		{"empty selector selects all of its namespace", "other", labels.Set{}, &NetworkPolicies{Ingress: []string{"all"}, Egress: []string{"all"}, IngressIsolated: true, EgressIsolated: true}},
		{"namespace without policies", "bare", labels.Set{"app": "web"}, none},
	}
	for _, tt := range pods {
		t.Run(tt.name, func(t *testing.T) {
			if got := idx.forPod(tt.ns, tt.l); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("forPod = %+v, want %+v", got, tt.want)
			}
		})
	}

	merges := []struct {
		name string
		in   []*NetworkPolicies
		want *NetworkPolicies
	}{
		{"one isolated Pod", []*NetworkPolicies{webPod}, webPod},
		{"same policies twice", []*NetworkPolicies{webPod, webPod}, webPod},
		{"one Pod not isolated", []*NetworkPolicies{webPod, none},
			&NetworkPolicies{Ingress: []string{"web-in"}, Egress: []string{"not-db-out"}}},
		{"union of names", []*NetworkPolicies{{Ingress: []string{"b"}, IngressIsolated: true}, {Ingress: []string{"a"}, IngressIsolated: true}},
			&NetworkPolicies{Ingress: []string{"a", "b"}, IngressIsolated: true}},
		{"no policies", []*NetworkPolicies{none, none}, none},
	}
	for _, tt := range merges {
		t.Run("merge "+tt.name, func(t *testing.T) {
			if got := mergePolicies(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergePolicies = %+v, want %+v", got, tt.want)
			}
		})
	}
}
