package cluster

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// ServiceMap is a graph of how traffic reaches Pods: Ingress → Service →
// workload → Pod (a Pod without a controller hangs off the Service itself).
// Workload and Pod nodes carry the NetworkPolicies that select their Pods
// (selection only; see NetworkPolicies for what is not evaluated).
type ServiceMap struct {
	// Nodes, sorted by ID.
	Nodes []MapNode `json:"nodes"`
	// Edges, sorted by From then To.
	Edges []MapEdge `json:"edges"`
}

// MapNode is an object in the service map.
type MapNode struct {
	// ID is Kind/Namespace/Name.
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Missing marks a Service an Ingress refers to that does not exist.
	Missing bool `json:"missing,omitempty"`
	// NetworkPolicies are the NetworkPolicies that apply to a Pod, or to
	// the Pods of a workload that are in the map; set on Pod and workload
	// nodes only (nil on Ingresses and Services).
	NetworkPolicies *NetworkPolicies `json:"networkPolicies,omitempty"`
}

// MapEdge connects two nodes by ID.
type MapEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type graph struct {
	nodes map[string]MapNode
	edges map[MapEdge]bool
}

func (g *graph) node(kind, ns, name string) string {
	id := kind + "/" + ns + "/" + name
	if _, ok := g.nodes[id]; !ok {
		g.nodes[id] = MapNode{ID: id, Kind: kind, Namespace: ns, Name: name}
	}
	return id
}

// ServiceMap computes the service map of namespace (all namespaces when
// empty) from the caches.
func (v *View) ServiceMap(namespace string) (ServiceMap, error) {
	g := &graph{nodes: map[string]MapNode{}, edges: map[MapEdge]bool{}}
	all := labels.Everything()
	var (
		ings []*networkingv1.Ingress
		svcs []*corev1.Service
		pods []*corev1.Pod
		err  error
	)
	if namespace == "" {
		ings, err = v.factory.Networking().V1().Ingresses().Lister().List(all)
	} else {
		ings, err = v.factory.Networking().V1().Ingresses().Lister().Ingresses(namespace).List(all)
	}
	if err != nil {
		return ServiceMap{}, fmt.Errorf("cluster: list ingresses: %w", err)
	}
	if namespace == "" {
		svcs, err = v.factory.Core().V1().Services().Lister().List(all)
	} else {
		svcs, err = v.factory.Core().V1().Services().Lister().Services(namespace).List(all)
	}
	if err != nil {
		return ServiceMap{}, fmt.Errorf("cluster: list services: %w", err)
	}
	if namespace == "" {
		pods, err = v.factory.Core().V1().Pods().Lister().List(all)
	} else {
		pods, err = v.factory.Core().V1().Pods().Lister().Pods(namespace).List(all)
	}
	if err != nil {
		return ServiceMap{}, fmt.Errorf("cluster: list pods: %w", err)
	}

	services := map[string]bool{}
	for _, s := range svcs {
		services[s.Namespace+"/"+s.Name] = true
		g.node("Service", s.Namespace, s.Name)
	}
	for _, ing := range ings {
		from := g.node("Ingress", ing.Namespace, ing.Name)
		for _, name := range ingressServices(ing) {
			to := g.node("Service", ing.Namespace, name)
			if !services[ing.Namespace+"/"+name] {
				n := g.nodes[to]
				n.Missing = true
				g.nodes[to] = n
			}
			g.edges[MapEdge{From: from, To: to}] = true
		}
	}
	policies, err := v.networkPolicies(namespace)
	if err != nil {
		return ServiceMap{}, err
	}
	podsByNS := map[string][]*corev1.Pod{}
	for _, p := range pods {
		podsByNS[p.Namespace] = append(podsByNS[p.Namespace], p)
	}
	podPolicies := map[string]*NetworkPolicies{} // Pod ID → policies
	workloadPods := map[string]map[string]bool{} // workload ID → Pod IDs
	for _, s := range svcs {
		if len(s.Spec.Selector) == 0 {
			continue // no selector: endpoints are managed by hand
		}
		sel := labels.SelectorFromSet(s.Spec.Selector)
		svc := g.node("Service", s.Namespace, s.Name)
		for _, p := range podsByNS[s.Namespace] {
			if !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			pod := g.node("Pod", p.Namespace, p.Name)
			if _, done := podPolicies[pod]; !done {
				podPolicies[pod] = policies.forPod(p.Namespace, labels.Set(p.Labels))
			}
			kind, name := v.owner(p.Namespace, p.OwnerReferences)
			if kind == "" {
				g.edges[MapEdge{From: svc, To: pod}] = true
				continue
			}
			wl := g.node(kind, p.Namespace, name)
			g.edges[MapEdge{From: svc, To: wl}] = true
			g.edges[MapEdge{From: wl, To: pod}] = true
			if workloadPods[wl] == nil {
				workloadPods[wl] = map[string]bool{}
			}
			workloadPods[wl][pod] = true
		}
	}
	for id, np := range podPolicies {
		n := g.nodes[id]
		n.NetworkPolicies = np
		g.nodes[id] = n
	}
	for id, pods := range workloadPods {
		each := make([]*NetworkPolicies, 0, len(pods))
		for pod := range pods {
			each = append(each, podPolicies[pod])
		}
		n := g.nodes[id]
		n.NetworkPolicies = mergePolicies(each)
		g.nodes[id] = n
	}

	m := ServiceMap{}
	for _, n := range g.nodes {
		m.Nodes = append(m.Nodes, n)
	}
	for e := range g.edges {
		m.Edges = append(m.Edges, e)
	}
	slices.SortFunc(m.Nodes, func(a, b MapNode) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(m.Edges, func(a, b MapEdge) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	return m, nil
}

// owner returns the top-level controller of a Pod: a ReplicaSet owned by a
// Deployment is reported as the Deployment, a Job owned by a CronJob as the
// CronJob. It returns "" for a Pod without a controller.
func (v *View) owner(ns string, refs []metav1.OwnerReference) (kind, name string) {
	ref := controllerOf(refs)
	if ref == nil {
		return "", ""
	}
	switch ref.Kind {
	case "ReplicaSet":
		if rs, err := v.factory.Apps().V1().ReplicaSets().Lister().ReplicaSets(ns).Get(ref.Name); err == nil {
			if up := metav1.GetControllerOfNoCopy(rs); up != nil && up.Kind == "Deployment" {
				return up.Kind, up.Name
			}
		}
	case "Job":
		if job, err := v.factory.Batch().V1().Jobs().Lister().Jobs(ns).Get(ref.Name); err == nil {
			if up := metav1.GetControllerOfNoCopy(job); up != nil && up.Kind == "CronJob" {
				return up.Kind, up.Name
			}
		}
	}
	return ref.Kind, ref.Name
}

// controllerOf returns the owner reference marked as controller, or nil.
func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if c := refs[i].Controller; c != nil && *c {
			return &refs[i]
		}
	}
	return nil
}

// ingressServices returns the names of the Services an Ingress routes to,
// sorted and without duplicates.
func ingressServices(ing *networkingv1.Ingress) []string {
	var out []string
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		out = append(out, b.Service.Name)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				out = append(out, p.Backend.Service.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
