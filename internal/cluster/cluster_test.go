package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/kubetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// seed creates a small shop: an Ingress to two Services (one missing), a
// Deployment with a ReplicaSet and two Pods (one of them labelled
// track=canary), a StatefulSet with one Pod, a
// bare Pod behind its own Service, and one ready control-plane node. There
// is no controller-manager, so the test creates the ReplicaSet and Pods.
func seed(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const ns = "shop"
	must(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	tmpl := func(l map[string]string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}}}}
	}
	webLabels := map[string]string{"app": "web"}
	dep, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: webLabels}, Template: tmpl(webLabels)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", Labels: webLabels, OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: &yes}}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: webLabels}, Template: tmpl(webLabels)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string, l map[string]string, owners []metav1.OwnerReference) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, OwnerReferences: owners}, Spec: tmpl(nil).Spec}
		must(c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}))
	}
	rsOwner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}
	pod("web-5d8f-a", webLabels, rsOwner)
	pod("web-5d8f-b", map[string]string{"app": "web", "track": "canary"}, rsOwner)
	dbLabels := map[string]string{"app": "db"}
	sts, err := c.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: dbLabels}, Template: tmpl(dbLabels)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod("db-0", dbLabels, []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID, Controller: &yes}})
	pod("debug", map[string]string{"app": "debug"}, nil)
	svc := func(name string, sel map[string]string) {
		t.Helper()
		must(c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}))
	}
	svc("web", webLabels)
	svc("db", dbLabels)
	svc("debug", map[string]string{"app": "debug"})
	svc("external", nil)
	pt := networkingv1.PathTypePrefix
	backend := func(name string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}
	}
	must(c.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "ghost", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: backend("web")}, {Path: "/static", PathType: &pt, Backend: backend("web")}},
			}}}},
		}}, metav1.CreateOptions{}))

	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1",
		Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	node.Status.NodeInfo.KubeletVersion = "v1.37.2"
	must(c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}))
	must(c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}}, metav1.CreateOptions{}))
}

func TestAgainstAPIServer(t *testing.T) {
	kc := kubetest.Start(t, kubetest.Options{})
	seed(t, kc.Client)
	seedPolicies(t, kc.Client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	view := cluster.New(kc.Client, 0)
	if err := view.Start(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("info", func(t *testing.T) {
		info, err := view.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := kc.Client.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if info.Version == "" || info.Version != want.GitVersion || info.Platform != want.Platform {
			t.Errorf("version %q, want %q", info.Version, want.GitVersion)
		}
		wantNodes := []cluster.Node{{Name: "node-1", Ready: true, Roles: []string{"control-plane"}, KubeletVersion: "v1.37.2"}, {Name: "node-2"}}
		if fmt.Sprintf("%+v", info.Nodes) != fmt.Sprintf("%+v", wantNodes) {
			t.Errorf("nodes %+v, want %+v", info.Nodes, wantNodes)
		}
		if !slices.Contains(info.Namespaces, "shop") || !slices.Contains(info.Namespaces, "kube-system") || !slices.IsSorted(info.Namespaces) {
			t.Errorf("namespaces %v", info.Namespaces)
		}
		wantCounts := map[string]int{"Deployment": 1, "StatefulSet": 1, "DaemonSet": 0, "Job": 0, "CronJob": 0, "Service": 4, "Ingress": 1, "Pod": 4}
		for k, n := range wantCounts {
			got := info.Workloads[k]
			if k == "Service" {
				got-- // the apiserver's own "kubernetes" Service in default
			}
			if got != n {
				t.Errorf("%s count %d, want %d", k, got, n)
			}
		}
		if info.PodPhases["Pending"] != 4 {
			t.Errorf("pod phases %v", info.PodPhases)
		}
	})

	t.Run("service map", func(t *testing.T) {
		m, err := view.ServiceMap("shop")
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "servicemap.golden.json", "service map", m)
		checkPolicies(t, m)
		all, err := view.ServiceMap("")
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Nodes) != len(m.Nodes)+1 { // plus default/kubernetes
			t.Errorf("all namespaces: %d nodes, want %d", len(all.Nodes), len(m.Nodes)+1)
		}
	})

	t.Run("network policy changes", func(t *testing.T) { testPolicyChanges(ctx, t, kc.Client, view) })
}

// checkGolden compares v, as indented JSON, with testdata/name (rewritten
// with -update) and reports a difference as "<what> differs from …".
func checkGolden(t *testing.T, name, what string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n%s", what, path, got)
	}
}
