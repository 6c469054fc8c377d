// Package cluster gives a read-only view of a Kubernetes cluster from
// informer caches: cluster information (version, nodes, namespaces,
// workload counts), a service map (Ingress → Service → workload → Pods,
// with the NetworkPolicies that select the Pods) and the image inventory of
// every workload (declared images and the image IDs its Pods report), which
// the scanner uses to say which workloads and Pods run an image.
package cluster

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// View answers questions about a cluster from informer caches.
type View struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	synced  []cache.InformerSynced
}

// New returns a View over client; resync is the informers' resync period
// (0 disables resync). Call Start before using it.
//
// The caches hold slimmed copies of the objects (see slim): only the
// fields the View reads, so their memory grows with the number of objects,
// not with their size (measured by BenchmarkInformerHeap).
func New(client kubernetes.Interface, resync time.Duration) *View {
	f := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(slim))
	v := &View{client: client, factory: f}
	// Request every informer the view uses so Start runs them.
	for _, inf := range []cache.SharedIndexInformer{
		f.Core().V1().Nodes().Informer(), f.Core().V1().Namespaces().Informer(),
		f.Core().V1().Pods().Informer(), f.Core().V1().Services().Informer(),
		f.Apps().V1().Deployments().Informer(), f.Apps().V1().StatefulSets().Informer(),
		f.Apps().V1().DaemonSets().Informer(), f.Apps().V1().ReplicaSets().Informer(),
		f.Batch().V1().Jobs().Informer(), f.Batch().V1().CronJobs().Informer(),
		f.Networking().V1().Ingresses().Informer(), f.Networking().V1().NetworkPolicies().Informer(),
	} {
		v.synced = append(v.synced, inf.HasSynced)
	}
	return v
}

// Start runs the informers until ctx ends and waits for their first sync.
func (v *View) Start(ctx context.Context) error {
	v.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), v.synced...) {
		return fmt.Errorf("cluster: informer caches did not sync: %w (check the apiserver is reachable and kubeward may list nodes, namespaces, pods, services, workloads, ingresses and networkpolicies)", context.Cause(ctx))
	}
	return nil
}

// Info describes a cluster.
type Info struct {
	// Version is the apiserver's git version (e.g. v1.37.2).
	Version string `json:"version"`
	// Platform is the apiserver's OS/architecture.
	Platform string `json:"platform"`
	// Nodes, sorted by name.
	Nodes []Node `json:"nodes"`
	// Namespaces, sorted.
	Namespaces []string `json:"namespaces"`
	// Workloads counts objects by kind (Deployment, StatefulSet, DaemonSet,
	// Job, CronJob, Service, Ingress, Pod).
	Workloads map[string]int `json:"workloads"`
	// PodPhases counts Pods by phase.
	PodPhases map[string]int `json:"podPhases"`
}

// Node describes a node.
type Node struct {
	Name           string   `json:"name"`
	Ready          bool     `json:"ready"`
	Roles          []string `json:"roles,omitempty"`
	KubeletVersion string   `json:"kubeletVersion,omitempty"`
	Unschedulable  bool     `json:"unschedulable,omitempty"`
}

// Info returns the cluster information. The version comes from the
// apiserver; everything else from the caches.
func (v *View) Info(ctx context.Context) (Info, error) {
	ver, err := v.client.Discovery().ServerVersion()
	if err != nil {
		return Info{}, fmt.Errorf("cluster: read apiserver version: %w", err)
	}
	info := Info{Version: ver.GitVersion, Platform: ver.Platform, Workloads: map[string]int{}, PodPhases: map[string]int{}}
	nodes, err := v.factory.Core().V1().Nodes().Lister().List(labels.Everything())
	if err != nil {
		return Info{}, fmt.Errorf("cluster: list nodes: %w", err)
	}
	for _, n := range nodes {
		node := Node{Name: n.Name, KubeletVersion: n.Status.NodeInfo.KubeletVersion, Unschedulable: n.Spec.Unschedulable}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				node.Ready = c.Status == corev1.ConditionTrue
			}
		}
		for l := range n.Labels {
			if role, ok := strings.CutPrefix(l, "node-role.kubernetes.io/"); ok && role != "" {
				node.Roles = append(node.Roles, role)
			}
		}
		slices.Sort(node.Roles)
		info.Nodes = append(info.Nodes, node)
	}
	slices.SortFunc(info.Nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	nss, err := v.factory.Core().V1().Namespaces().Lister().List(labels.Everything())
	if err != nil {
		return Info{}, fmt.Errorf("cluster: list namespaces: %w", err)
	}
	for _, ns := range nss {
		info.Namespaces = append(info.Namespaces, ns.Name)
	}
	slices.Sort(info.Namespaces)

	all := labels.Everything()
	counts := []struct {
		kind string
		list func() (int, error)
	}{
		{"Deployment", func() (int, error) {
			l, err := v.factory.Apps().V1().Deployments().Lister().List(all)
			return len(l), err
		}},
		{"StatefulSet", func() (int, error) {
			l, err := v.factory.Apps().V1().StatefulSets().Lister().List(all)
			return len(l), err
		}},
		{"DaemonSet", func() (int, error) {
			l, err := v.factory.Apps().V1().DaemonSets().Lister().List(all)
			return len(l), err
		}},
		{"Job", func() (int, error) { l, err := v.factory.Batch().V1().Jobs().Lister().List(all); return len(l), err }},
		{"CronJob", func() (int, error) {
			l, err := v.factory.Batch().V1().CronJobs().Lister().List(all)
			return len(l), err
		}},
		{"Service", func() (int, error) { l, err := v.factory.Core().V1().Services().Lister().List(all); return len(l), err }},
		{"Ingress", func() (int, error) {
			l, err := v.factory.Networking().V1().Ingresses().Lister().List(all)
			return len(l), err
		}},
	}
	for _, c := range counts {
		n, err := c.list()
		if err != nil {
			return Info{}, fmt.Errorf("cluster: list %s objects: %w", c.kind, err)
		}
		info.Workloads[c.kind] = n
	}
	pods, err := v.factory.Core().V1().Pods().Lister().List(all)
	if err != nil {
		return Info{}, fmt.Errorf("cluster: list pods: %w", err)
	}
	info.Workloads["Pod"] = len(pods)
	for _, p := range pods {
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = string(corev1.PodPending)
		}
		info.PodPhases[phase]++
	}
	return info, nil
}
