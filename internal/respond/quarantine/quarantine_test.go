package quarantine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/owned"
	"github.com/kubeward/kubeward/internal/respond/quarantine"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

func TestPolicyName(t *testing.T) {
	if got := quarantine.PolicyName("web"); got != "kubeward-quarantine-web" {
		t.Errorf("PolicyName(web) = %q", got)
	}
}

func TestValidate(t *testing.T) {
	ex := quarantine.New(nil)
	for kind, ok := range map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Pod": false, "Service": false} {
		err := ex.Validate(respond.Request{Target: respond.Target{Kind: kind, Namespace: "n", Name: "x"}})
		if (err == nil) != ok {
			t.Errorf("Validate(%s) = %v, want ok=%t", kind, err, ok)
		}
	}
	if err := ex.Validate(respond.Request{Target: respond.Target{Kind: "Deployment", Namespace: "n"}, Params: map[string]string{"x": "y"}}); !errors.Is(err, respond.ErrInvalid) {
		t.Errorf("params accepted: %v", err)
	}
}

func TestAgainstAPIServer(t *testing.T) {
	cluster := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	client := cluster.Client
	clock := respondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store := respond.NewMemoryStore()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{quarantine.Kind: quarantine.New(dyn)}, respond.Options{Now: clock.Now})

	deployment := func(t *testing.T, ns string, sel *metav1.LabelSelector) {
		t.Helper()
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app": "web", "tier": "front"}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			}},
		}
		if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	request := func(ns string, dryRun bool) respond.Request {
		return respond.Request{Kind: quarantine.Kind, Target: respond.Target{Kind: "Deployment", Namespace: ns, Name: "web"},
			TTL: 10 * time.Minute, DryRun: dryRun, Actor: "alice", Reason: "crypto-miner detected"}
	}
	policies := func(t *testing.T, ns string) []networkingv1.NetworkPolicy {
		t.Helper()
		l, err := client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	state := func(t *testing.T, id string) respond.Action {
		t.Helper()
		a, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	selectors := map[string]*metav1.LabelSelector{
		"labels":      {MatchLabels: map[string]string{"app": "web"}},
		"expressions": {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front"}}}},
	}
	for name, sel := range selectors {
		t.Run("quarantine and expiry with "+name, func(t *testing.T) {
			ns := "q-" + name
			deployment(t, ns, sel)
			a, err := mgr.Apply(ctx, request(ns, false))
			if err != nil {
				t.Fatal(err)
			}
			got := policies(t, ns)
			if len(got) != 1 {
				t.Fatalf("%d policies, want 1", len(got))
			}
			np := got[0]
			if fmt.Sprint(np.Spec.PodSelector) != fmt.Sprint(*sel) {
				t.Errorf("policy selects %v, want the workload's %v", np.Spec.PodSelector, *sel)
			}
			if len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 || fmt.Sprint(np.Spec.PolicyTypes) != "[Ingress Egress]" {
				t.Errorf("policy is not deny-all: %+v", np.Spec)
			}
			if np.Annotations[owned.ActionAnnotation] != a.ID {
				t.Errorf("policy does not name its action: %v", np.Annotations)
			}
			clock.Advance(10 * time.Minute)
			if _, err := mgr.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if got := policies(t, ns); len(got) != 0 {
				t.Fatalf("quarantine not lifted at expiry: %d policies", len(got))
			}
			if s := state(t, a.ID).State; s != respond.StateExpired {
				t.Fatalf("state %s, want expired", s)
			}
		})
	}

	t.Run("dry run creates nothing", func(t *testing.T) {
		deployment(t, "q-dry", selectors["labels"])
		a, err := mgr.Apply(ctx, request("q-dry", true))
		if err != nil {
			t.Fatal(err)
		}
		if got := policies(t, "q-dry"); len(got) != 0 {
			t.Fatalf("dry run created %d policies", len(got))
		}
		if a.State != respond.StateDryRun {
			t.Fatalf("state %s", a.State)
		}
	})

	t.Run("missing workload fails", func(t *testing.T) {
		a, err := mgr.Apply(ctx, request("q-missing", false))
		if !apierrors.IsNotFound(err) {
			t.Fatalf("Apply = %v, want a NotFound error", err)
		}
		if s := state(t, a.ID).State; s != respond.StateFailed {
			t.Fatalf("state %s, want failed", s)
		}
	})

	t.Run("edited policy is not deleted", func(t *testing.T) {
		deployment(t, "q-edit", selectors["labels"])
		a, err := mgr.Apply(ctx, request("q-edit", false))
		if err != nil {
			t.Fatal(err)
		}
		np := policies(t, "q-edit")[0]
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}} // the user opens egress by hand
		if _, err := client.NetworkingV1().NetworkPolicies("q-edit").Update(ctx, &np, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := mgr.Revert(ctx, a.ID, "bob", "incident closed"); !errors.Is(err, respond.ErrConflict) {
			t.Fatalf("Revert = %v, want ErrConflict", err)
		}
		if got := policies(t, "q-edit"); len(got) != 1 || len(got[0].Spec.Egress) != 1 {
			t.Fatalf("the user's policy was deleted or changed: %+v", got)
		}
		if a := state(t, a.ID); a.State != respond.StateFailed || !strings.Contains(a.Message, "delete it by hand") {
			t.Fatalf("state %s %q", a.State, a.Message)
		}
	})

	t.Run("revert of an already deleted policy succeeds", func(t *testing.T) {
		deployment(t, "q-gone", selectors["labels"])
		a, err := mgr.Apply(ctx, request("q-gone", false))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.NetworkingV1().NetworkPolicies("q-gone").Delete(ctx, quarantine.PolicyName("web"), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := mgr.Revert(ctx, a.ID, "bob", "done"); err != nil {
			t.Fatal(err)
		}
	})
}
