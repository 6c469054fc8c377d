package cluster_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/kubetest"
)

// seedPolicies adds NetworkPolicies to the shop of seed:
//   - web-ingress selects app=web (both web Pods), Ingress only;
//   - canary-egress selects track=canary (one of the two web Pods) with a
//     matchExpressions selector, Egress only;
//   - db-lockdown selects app=db with no policyTypes but egress rules (the
//     apiserver defaults it to Ingress and Egress);
//   - default-deny-ingress has an empty podSelector (every Pod of shop) and
//     no policyTypes (defaulted to Ingress);
//   - nobody selects app=missing, which no Pod has;
//   - and, in namespace elsewhere, allow-nothing selects every Pod of its
//     own namespace both ways, and so none of shop's.
func seedPolicies(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egress := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	dns := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}}}}
	for _, np := range []struct {
		ns, name string
		sel      metav1.LabelSelector
		types    []networkingv1.PolicyType
		egress   []networkingv1.NetworkPolicyEgressRule
	}{
		{"shop", "web-ingress", metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, ingress, nil},
		{"shop", "canary-egress", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "track", Operator: metav1.LabelSelectorOpIn, Values: []string{"canary"}}}}, egress, []networkingv1.NetworkPolicyEgressRule{dns}},
		{"shop", "db-lockdown", metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, nil, []networkingv1.NetworkPolicyEgressRule{dns}},
		{"shop", "default-deny-ingress", metav1.LabelSelector{}, nil, nil},
		{"shop", "nobody", metav1.LabelSelector{MatchLabels: map[string]string{"app": "missing"}}, both, nil},
		{"elsewhere", "allow-nothing", metav1.LabelSelector{}, both, nil},
	} {
		p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: np.name},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: np.sel, PolicyTypes: np.types, Egress: np.egress}}
		if _, err := c.NetworkingV1().NetworkPolicies(np.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create NetworkPolicy %s/%s: %v", np.ns, np.name, err)
		}
	}
}

// checkPolicies checks the NetworkPolicies of every node of the shop's
// service map against what seedPolicies implies.
func checkPolicies(t *testing.T, m cluster.ServiceMap) {
	t.Helper()
	want := map[string]*cluster.NetworkPolicies{
		"Pod/shop/web-5d8f-a": {Ingress: []string{"default-deny-ingress", "web-ingress"}, IngressIsolated: true},
		"Pod/shop/web-5d8f-b": {Ingress: []string{"default-deny-ingress", "web-ingress"}, Egress: []string{"canary-egress"},
			IngressIsolated: true, EgressIsolated: true},
		// Only one of its Pods is isolated for egress.
		"Deployment/shop/web": {Ingress: []string{"default-deny-ingress", "web-ingress"}, Egress: []string{"canary-egress"}, IngressIsolated: true},
		"Pod/shop/db-0": {Ingress: []string{"db-lockdown", "default-deny-ingress"}, Egress: []string{"db-lockdown"},
			IngressIsolated: true, EgressIsolated: true},
		"StatefulSet/shop/db": {Ingress: []string{"db-lockdown", "default-deny-ingress"}, Egress: []string{"db-lockdown"},
			IngressIsolated: true, EgressIsolated: true},
		"Pod/shop/debug": {Ingress: []string{"default-deny-ingress"}, IngressIsolated: true},
	}
	seen := 0
	for _, n := range m.Nodes {
		w, ok := want[n.ID]
		if !ok {
			if n.NetworkPolicies != nil {
				t.Errorf("%s has network policies %+v, want none (not a Pod or workload)", n.ID, *n.NetworkPolicies)
			}
			continue
		}
		seen++
		if n.NetworkPolicies == nil || !reflect.DeepEqual(*n.NetworkPolicies, *w) {
			got, _ := json.Marshal(n.NetworkPolicies)
			exp, _ := json.Marshal(w)
			t.Errorf("%s network policies %s, want %s", n.ID, got, exp)
		}
	}
	if seen != len(want) {
		t.Errorf("service map has %d of the %d Pod and workload nodes %v", seen, len(want), m.Nodes)
	}
}

// testPolicyChanges checks that the map follows NetworkPolicies created and
// deleted after the View started.
func testPolicyChanges(ctx context.Context, t *testing.T, c kubernetes.Interface, view *cluster.View) {
	debugPolicies := func() (*cluster.NetworkPolicies, error) {
		m, err := view.ServiceMap("shop")
		if err != nil {
			return nil, err
		}
		for _, n := range m.Nodes {
			if n.ID == "Pod/shop/debug" {
				return n.NetworkPolicies, nil
			}
		}
		t.Fatalf("no Pod/shop/debug in %+v", m.Nodes)
		return nil, nil
	}
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "debug-egress"}, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "debug"}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
	if _, err := c.NetworkingV1().NetworkPolicies("shop").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last *cluster.NetworkPolicies
	if err := kubetest.WaitFor(ctx, func(context.Context) (bool, error) {
		p, err := debugPolicies()
		last = p
		return p != nil && p.EgressIsolated && reflect.DeepEqual(p.Egress, []string{"debug-egress"}), err
	}); err != nil {
		t.Fatalf("debug Pod never became egress-isolated by debug-egress (last %+v): %v", last, err)
	}
	if err := c.NetworkingV1().NetworkPolicies("shop").Delete(ctx, np.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kubetest.WaitFor(ctx, func(context.Context) (bool, error) {
		p, err := debugPolicies()
		last = p
		return p != nil && !p.EgressIsolated && len(p.Egress) == 0, err
	}); err != nil {
		t.Fatalf("debug Pod still egress-isolated after debug-egress was deleted (last %+v): %v", last, err)
	}
}

// TestServiceMapInvalidPolicy checks that a NetworkPolicy whose podSelector
// does not parse (the apiserver refuses one; client-go's fake clientset
// does not) makes the service map fail with an error naming it.
func TestServiceMapInvalidPolicy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: "shop"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: "Near", Values: []string{"web"}}}}}})
	view := cluster.New(client, 0)
	if err := view.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := view.ServiceMap("")
	if err == nil || !strings.Contains(err.Error(), "NetworkPolicy shop/broken has an invalid podSelector") {
		t.Fatalf("ServiceMap error = %v, want one naming shop/broken's podSelector", err)
	}
}
