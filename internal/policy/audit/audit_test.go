package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// restrictedSpec is a pod spec that passes every Pod Security Standards
// restricted control.
func restrictedSpec() corev1.PodSpec {
	return corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name: "app", Image: "registry.example.com/app@sha256:" + fmt.Sprintf("%064d", 1),
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
}

func privilegedSpec() corev1.PodSpec {
	s := restrictedSpec()
	s.Containers[0].SecurityContext.Privileged = ptr.To(true)
	// The apiserver rejects privileged with allowPrivilegeEscalation false.
	s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	return s
}

func pod(ns, name string, spec corev1.PodSpec) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
}

func deployment(ns, name string, spec corev1.PodSpec) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

type fixture struct {
	cs  *kubernetes.Clientset
	dyn dynamic.Interface
}

func start(t *testing.T) *fixture {
	t.Helper()
	c := kubetest.Start(t, kubetest.Options{CRDDirectoryPaths: []string{"testdata/crds"}})
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	return &fixture{cs: c.Client, dyn: dyn}
}

func (f *fixture) namespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := f.cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func (f *fixture) createPod(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if _, err := f.cs.CoreV1().Pods(p.Namespace).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// report reads a PolicyReport (namespace set) or the ClusterPolicyReport;
// ok is false when it does not exist.
func (f *fixture) report(t *testing.T, namespace, name string) (rep PolicyReport, raw []byte, ok bool) {
	t.Helper()
	ri := f.dyn.Resource(ClusterPolicyReportResource).Namespace("")
	if namespace != "" {
		ri = f.dyn.Resource(PolicyReportResource).Namespace(namespace)
	}
	u, err := ri.Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return rep, nil, false
	}
	if err != nil {
		t.Fatalf("get report %s/%s: %v", namespace, name, err)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	raw, err = json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &rep); err != nil {
		t.Fatalf("report %s/%s does not decode: %v", namespace, name, err)
	}
	return rep, raw, true
}

// failures returns "policy/rule kind/name" of every failed result.
func failures(rep PolicyReport) map[string]bool {
	out := map[string]bool{}
	for _, r := range rep.Results {
		if r.Result == OutcomeFail {
			for _, o := range r.Resources {
				out[r.Policy+"/"+r.Rule+" "+o.Kind+"/"+o.Name] = true
			}
		}
	}
	return out
}

func restrictedEngine(t *testing.T) *policy.Engine {
	t.Helper()
	e, err := packs.Build(packs.Config{Packs: []string{packs.PSSRestricted}})
	if err != nil {
		t.Fatalf("build engine: %v", err)
	}
	return e
}

func TestAuditWritesAndMaintainsReports(t *testing.T) {
	f := start(t)
	ctx := t.Context()
	for _, ns := range []string{"good", "bad", "gone"} {
		f.namespace(t, ns)
	}
	f.createPod(t, pod("good", "ok", restrictedSpec()))
	f.createPod(t, pod("bad", "priv", privilegedSpec()))
	f.createPod(t, pod("gone", "priv", privilegedSpec()))
	hostNet := restrictedSpec()
	hostNet.HostNetwork = true
	dep, err := f.cs.AppsV1().Deployments("bad").Create(ctx, deployment("bad", "web", hostNet), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	// A ReplicaSet controlled by the Deployment, as the controller manager
	// would create it: it must not be reported a second time.
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "bad", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true),
		}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template},
	}
	if _, err := f.cs.AppsV1().ReplicaSets("bad").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create replicaset: %v", err)
	}

	a := New(f.dyn, restrictedEngine(t), Options{})
	if _, err := a.Once(ctx); err != nil {
		t.Fatalf("first pass: %v", err)
	}

	good, _, ok := f.report(t, "good", ReportName("good"))
	if !ok {
		t.Fatal("no report for namespace good")
	}
	if good.Summary.Fail != 0 || good.Summary.Pass == 0 {
		t.Errorf("good summary %+v: want passes and no failure", good.Summary)
	}
	if good.Metadata.Labels[ManagedByLabel] != ManagedByValue {
		t.Errorf("report labels %v lack %s=%s", good.Metadata.Labels, ManagedByLabel, ManagedByValue)
	}
	bad, _, ok := f.report(t, "bad", ReportName("bad"))
	if !ok {
		t.Fatal("no report for namespace bad")
	}
	got := failures(bad)
	for _, want := range []string{"pss-restricted/privileged Pod/priv", "pss-restricted/hostNamespaces Deployment/web"} {
		if !got[want] {
			t.Errorf("bad report lacks failure %q; has %v", want, got)
		}
	}
	for _, r := range bad.Results {
		if r.Resources[0].Kind == "ReplicaSet" {
			t.Errorf("result %s/%s reported for the Deployment's ReplicaSet", r.Policy, r.Rule)
		}
		if r.Resources[0].UID == "" || r.Source != ResultSource || r.Timestamp.Seconds == 0 {
			t.Errorf("result %s/%s lacks uid, source or timestamp: %+v", r.Policy, r.Rule, r)
		}
	}
	if bad.Summary.Fail != len(got) || bad.Summary.Total() != len(bad.Results) {
		t.Errorf("bad summary %+v does not count its %d results (%d failures)", bad.Summary, len(bad.Results), len(got))
	}
	if _, _, ok := f.report(t, "", ClusterReportName); ok {
		t.Error("ClusterPolicyReport written though no cluster-scoped kind is audited")
	}

	// Fix the pod (pods are immutable: replace it) and delete namespace
	// "gone" (it stays Terminating: there is no namespace controller).
	if err := f.cs.CoreV1().Pods("bad").Delete(ctx, "priv", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	f.createPod(t, pod("bad", "priv", restrictedSpec()))
	if err := f.cs.CoreV1().Namespaces().Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	st, err := a.Once(ctx)
	if err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if st.Deleted != 1 {
		t.Errorf("second pass deleted %d reports, want 1 (namespace gone)", st.Deleted)
	}
	bad, _, _ = f.report(t, "bad", ReportName("bad"))
	got = failures(bad)
	if got["pss-restricted/privileged Pod/priv"] {
		t.Error("fixed violation still reported after the next pass")
	}
	if !got["pss-restricted/hostNamespaces Deployment/web"] {
		t.Errorf("unfixed Deployment violation vanished: %v", got)
	}
	if _, _, ok := f.report(t, "gone", ReportName("gone")); ok {
		t.Error("report of the deleted namespace was not removed")
	}

	// Auditing a cluster-scoped kind writes the ClusterPolicyReport; a
	// pass that no longer audits one removes it.
	withNamespaces := append(slices.Clone(DefaultKinds), Kind{Resource: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}})
	if _, err := New(f.dyn, restrictedEngine(t), Options{Kinds: withNamespaces}).Once(ctx); err != nil {
		t.Fatalf("pass with cluster-scoped kinds: %v", err)
	}
	cluster, _, ok := f.report(t, "", ClusterReportName)
	if !ok || cluster.Kind != KindClusterPolicyReport {
		t.Fatalf("ClusterPolicyReport not written (found %v, kind %q)", ok, cluster.Kind)
	}
	if _, err := a.Once(ctx); err != nil {
		t.Fatalf("fourth pass: %v", err)
	}
	if _, _, ok := f.report(t, "", ClusterReportName); ok {
		t.Error("ClusterPolicyReport kept after cluster-scoped kinds were no longer audited")
	}

	// Run rewrites a report deleted by hand and returns nil when stopped.
	if err := f.dyn.Resource(PolicyReportResource).Namespace("good").Delete(ctx, ReportName("good"), metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete report: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, time.Hour) }()
	err = kubetest.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		_, err := f.dyn.Resource(PolicyReportResource).Namespace("good").Get(ctx, ReportName("good"), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	stop()
	if err != nil {
		t.Fatalf("waiting for Run to rewrite the report: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancellation, want nil", err)
	}
}

func TestAuditBoundsLargeNamespace(t *testing.T) {
	f := start(t)
	ctx := t.Context()
	const ns, pods = "crowded", 3000
	f.namespace(t, ns)
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				p := pod(ns, "priv-"+strconv.Itoa(i), privilegedSpec())
				if _, err := f.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create pod %d: %w", i, err)
				}
			}
		})
	}
	for i := range pods {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		limits Limits
	}{
		{name: "defaults", limits: Limits{}},
		{name: "small", limits: Limits{MaxResults: 200, MaxMessageBytes: 40, MaxReportBytes: 32 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.limits.withDefaults()
			a := New(f.dyn, restrictedEngine(t), Options{Limits: tt.limits, ListPageSize: 100})
			st, err := a.Once(ctx)
			if err != nil {
				t.Fatalf("pass: %v", err)
			}
			// Other namespaces hold the apiserver's own Service.
			if st.Objects < pods {
				t.Errorf("audited %d objects, want at least the %d pods", st.Objects, pods)
			}
			rep, raw, ok := f.report(t, ns, ReportName(ns))
			if !ok {
				t.Fatal("no report written")
			}
			t.Logf("%d results (summary %+v), %d kept, stored report %d bytes", rep.Summary.Total(), rep.Summary, len(rep.Results), len(raw))
			// The stored object carries server metadata the auditor did not
			// measure; allow for it but no more.
			if len(raw) > l.MaxReportBytes+1024 {
				t.Errorf("stored report is %d bytes, limit %d", len(raw), l.MaxReportBytes)
			}
			if len(rep.Results) > l.MaxResults {
				t.Errorf("report keeps %d results, cap %d", len(rep.Results), l.MaxResults)
			}
			if rep.Summary.Fail < pods {
				t.Errorf("summary counts %d failures, want at least one per pod (%d)", rep.Summary.Fail, pods)
			}
			for i, r := range rep.Results {
				if r.Result != OutcomeFail {
					t.Fatalf("result %d is %s: failures must fill the report first", i, r.Result)
				}
				if len(r.Message) > l.MaxMessageBytes {
					t.Fatalf("result %d message is %d bytes, cap %d", i, len(r.Message), l.MaxMessageBytes)
				}
			}
			dropped := rep.Summary.Total() - len(rep.Results)
			if dropped <= 0 || rep.Metadata.Annotations[AnnotationDropped] != strconv.Itoa(dropped) ||
				rep.Metadata.Annotations[AnnotationTruncated] != "true" {
				t.Errorf("annotations %v, want %d dropped results recorded", rep.Metadata.Annotations, dropped)
			}
		})
	}
}
