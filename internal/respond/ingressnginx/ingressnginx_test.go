package ingressnginx_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/ingressnginx"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestValidate(t *testing.T) {
	ing := respond.Target{Kind: "Ingress", Namespace: "ns", Name: "web"}
	tests := []struct {
		name   string
		target respond.Target
		params map[string]string
		ok     bool
	}{
		{"rps", ing, map[string]string{"limit-rps": "10"}, true},
		{"all", ing, map[string]string{"limit-rps": "10", "limit-rpm": "300", "limit-connections": "5", "limit-burst-multiplier": "3", "limit-whitelist": "10.0.0.0/8, 192.0.2.1"}, true},
		{"no limit", ing, map[string]string{"limit-burst-multiplier": "3"}, false},
		{"zero", ing, map[string]string{"limit-rps": "0"}, false},
		{"negative", ing, map[string]string{"limit-rps": "-1"}, false},
		{"not a number", ing, map[string]string{"limit-rpm": "ten"}, false},
		{"bad whitelist", ing, map[string]string{"limit-rps": "1", "limit-whitelist": "10.0.0.0/8,evil"}, false},
		{"unknown param", ing, map[string]string{"limit-rps": "1", "configuration-snippet": "x"}, false},
		{"wrong kind", respond.Target{Kind: "Service", Namespace: "ns", Name: "web"}, map[string]string{"limit-rps": "1"}, false},
	}
	ex := mustNew(t, nil, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ex.Validate(respond.Request{Kind: ingressnginx.Kind, Target: tt.target, Params: tt.params})
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, respond.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

// mustNew returns an executor with the annotation prefix (default when
// empty).
func mustNew(tb testing.TB, client kubernetes.Interface, prefix string) *ingressnginx.Executor {
	tb.Helper()
	ex, err := ingressnginx.New(client, ingressnginx.Options{AnnotationPrefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

type env struct {
	client kubernetes.Interface
	store  *respond.MemoryStore
	clock  *respondtest.Clock
	mgr    *respond.Manager
	prefix string // annotation prefix; empty: the default
}

func newEnv(client kubernetes.Interface) *env {
	e := &env{client: client, store: respond.NewMemoryStore(), clock: respondtest.NewClock(t0)}
	e.mgr = e.restart()
	return e
}

// restart returns a new Manager on the same store, as after a process restart.
func (e *env) restart() *respond.Manager {
	ex, err := ingressnginx.New(e.client, ingressnginx.Options{AnnotationPrefix: e.prefix})
	if err != nil {
		panic(err) // the tests' prefixes are valid
	}
	return respond.NewManager(e.store, map[respond.Kind]respond.Executor{ingressnginx.Kind: ex}, respond.Options{Now: e.clock.Now})
}

// ingress creates a namespace and an Ingress with user annotations.
func (e *env) ingress(t *testing.T, ns string, ann map[string]string) *networkingv1.Ingress {
	t.Helper()
	ctx := context.Background()
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pt := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Annotations: ann, Labels: map[string]string{"app": "web"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		}}}}},
	}
	got, err := e.client.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (e *env) get(t *testing.T, ns string) *networkingv1.Ingress {
	t.Helper()
	ing, err := e.client.NetworkingV1().Ingresses(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ing
}

func request(ns string, ttl time.Duration, dryRun bool) respond.Request {
	return respond.Request{
		Kind:   ingressnginx.Kind,
		Target: respond.Target{Kind: "Ingress", Namespace: ns, Name: "web"},
		Params: map[string]string{"limit-rps": "10", "limit-rpm": "300", "limit-whitelist": "10.0.0.0/8"},
		TTL:    ttl, DryRun: dryRun, Actor: "alice", Reason: "alert 42: request flood",
	}
}

func wantSame(t *testing.T, before, after *networkingv1.Ingress) {
	t.Helper()
	b, a := respondtest.Canonical(t, before), respondtest.Canonical(t, after)
	if !bytes.Equal(b, a) {
		t.Fatalf("object not restored\nbefore: %s\n after: %s", b, a)
	}
	if fmt.Sprint(before.Annotations) != fmt.Sprint(after.Annotations) {
		t.Fatalf("annotations not restored: before %v, after %v", before.Annotations, after.Annotations)
	}
}

func wantState(t *testing.T, e *env, id string, want respond.State) respond.Action {
	t.Helper()
	a, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != want {
		t.Fatalf("action state %s (%s), want %s", a.State, a.Message, want)
	}
	return a
}

// TestAgainstAPIServer runs the executor against a real kube-apiserver.
func TestAgainstAPIServer(t *testing.T) {
	cluster := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	userAnn := map[string]string{
		"nginx.ingress.kubernetes.io/limit-rps": "5", // the user's own value, to be restored
		"example.com/owner":                     "team-web",
	}

	t.Run("apply then revert restores the object", func(t *testing.T) {
		e := newEnv(cluster.Client)
		before := e.ingress(t, "apply-revert", userAnn)
		a, err := e.mgr.Apply(ctx, request("apply-revert", time.Hour, false))
		if err != nil {
			t.Fatal(err)
		}
		got := e.get(t, "apply-revert").Annotations
		for k, v := range map[string]string{"limit-rps": "10", "limit-rpm": "300", "limit-whitelist": "10.0.0.0/8"} {
			if got[ingressnginx.DefaultAnnotationPrefix+"/"+k] != v {
				t.Errorf("annotation %s = %q, want %q", k, got[ingressnginx.DefaultAnnotationPrefix+"/"+k], v)
			}
		}
		if got["example.com/owner"] != "team-web" {
			t.Errorf("unrelated annotation lost: %v", got)
		}
		if a.ExpiresAt != t0.Add(time.Hour) {
			t.Errorf("ExpiresAt %v, want %v", a.ExpiresAt, t0.Add(time.Hour))
		}
		if _, err := e.mgr.Revert(ctx, a.ID, "bob", "false positive"); err != nil {
			t.Fatal(err)
		}
		wantSame(t, before, e.get(t, "apply-revert"))
		wantState(t, e, a.ID, respond.StateReverted)
		events, err := e.store.Events(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var trail []string
		for _, ev := range events {
			trail = append(trail, ev.Actor+":"+string(ev.To))
		}
		if want := "alice:pending alice:applied bob:reverting bob:reverted"; strings.Join(trail, " ") != want {
			t.Errorf("audit trail %q, want %q", strings.Join(trail, " "), want)
		}
	})

	t.Run("annotations absent before are removed again", func(t *testing.T) {
		e := newEnv(cluster.Client)
		before := e.ingress(t, "no-annotations", nil)
		a, err := e.mgr.Apply(ctx, request("no-annotations", time.Hour, false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.mgr.Revert(ctx, a.ID, "bob", "done"); err != nil {
			t.Fatal(err)
		}
		wantSame(t, before, e.get(t, "no-annotations"))
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		e := newEnv(cluster.Client)
		before := e.ingress(t, "dry-run", userAnn)
		a, err := e.mgr.Apply(ctx, request("dry-run", time.Hour, true))
		if err != nil {
			t.Fatal(err)
		}
		after := e.get(t, "dry-run")
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("resourceVersion moved from %s to %s: the dry run wrote", before.ResourceVersion, after.ResourceVersion)
		}
		wantSame(t, before, after)
		wantState(t, e, a.ID, respond.StateDryRun)
	})

	t.Run("dry run reports apiserver rejection", func(t *testing.T) {
		e := newEnv(cluster.Client)
		a, err := e.mgr.Apply(ctx, request("missing-namespace", time.Hour, true))
		if err == nil {
			t.Fatal("dry run on a missing Ingress succeeded")
		}
		wantState(t, e, a.ID, respond.StateFailed)
	})

	t.Run("ttl expiry reverts", func(t *testing.T) {
		e := newEnv(cluster.Client)
		before := e.ingress(t, "ttl", userAnn)
		a, err := e.mgr.Apply(ctx, request("ttl", 10*time.Minute, false))
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(9 * time.Minute)
		if n, err := e.mgr.ReconcileOnce(ctx); err != nil || n != 0 {
			t.Fatalf("before expiry: reverted %d, %v", n, err)
		}
		wantState(t, e, a.ID, respond.StateApplied)
		e.clock.Advance(time.Minute)
		if n, err := e.mgr.ReconcileOnce(ctx); err != nil || n != 1 {
			t.Fatalf("at expiry: reverted %d, %v", n, err)
		}
		wantSame(t, before, e.get(t, "ttl"))
		wantState(t, e, a.ID, respond.StateExpired)
	})

	t.Run("restart after apply still reverts at expiry", func(t *testing.T) {
		e := newEnv(cluster.Client)
		before := e.ingress(t, "restart", userAnn)
		a, err := e.mgr.Apply(ctx, request("restart", 10*time.Minute, false))
		if err != nil {
			t.Fatal(err)
		}
		e.mgr = nil // the process stops; it is down when the TTL passes
		e.clock.Advance(time.Hour)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- (&respond.Reconciler{Manager: e.restart(), Interval: time.Hour}).Run(runCtx)
		}()
		err = kubetest.WaitFor(ctx, func(ctx context.Context) (bool, error) {
			got, err := e.store.Get(ctx, a.ID)
			return got.State == respond.StateExpired, err
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		wantSame(t, before, e.get(t, "restart"))
	})

	t.Run("restart in the middle of a revert completes it", func(t *testing.T) {
		e := newEnv(cluster.Client)
		before := e.ingress(t, "mid-revert", userAnn)
		a, err := e.mgr.Apply(ctx, request("mid-revert", 10*time.Minute, false))
		if err != nil {
			t.Fatal(err)
		}
		// The old process claimed the revert and restored the Ingress, then
		// died before recording the result.
		a.State = respond.StateReverting
		if err := e.store.Update(ctx, &a); err != nil {
			t.Fatal(err)
		}
		if err := mustNew(t, cluster.Client, "").Revert(ctx, a); err != nil {
			t.Fatal(err)
		}
		if n, err := e.restart().ReconcileOnce(ctx); err != nil || n != 1 {
			t.Fatalf("reconcile: reverted %d, %v", n, err)
		}
		wantSame(t, before, e.get(t, "mid-revert"))
		wantState(t, e, a.ID, respond.StateExpired)
	})

	t.Run("conflicting user edit is detected and kept", func(t *testing.T) {
		e := newEnv(cluster.Client)
		e.ingress(t, "conflict", userAnn)
		a, err := e.mgr.Apply(ctx, request("conflict", time.Hour, false))
		if err != nil {
			t.Fatal(err)
		}
		ing := e.get(t, "conflict")
		ing.Annotations["nginx.ingress.kubernetes.io/limit-rps"] = "99" // the user tunes the limit by hand
		if _, err := cluster.Client.NetworkingV1().Ingresses("conflict").Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = e.mgr.Revert(ctx, a.ID, "bob", "done")
		if !errors.Is(err, respond.ErrConflict) {
			t.Fatalf("Revert = %v, want ErrConflict", err)
		}
		got := e.get(t, "conflict").Annotations
		if got["nginx.ingress.kubernetes.io/limit-rps"] != "99" || got["nginx.ingress.kubernetes.io/limit-rpm"] != "300" {
			t.Fatalf("kubeward overwrote the user's edit: %v", got)
		}
		failed := wantState(t, e, a.ID, respond.StateFailed)
		if !strings.Contains(failed.Message, `limit-rps (kubeward set "10", now "99")`) {
			t.Errorf("message does not explain the conflict: %s", failed.Message)
		}
	})

	t.Run("second action on the same ingress is refused", func(t *testing.T) {
		e := newEnv(cluster.Client)
		e.ingress(t, "busy", nil)
		if _, err := e.mgr.Apply(ctx, request("busy", time.Hour, false)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.mgr.Apply(ctx, request("busy", time.Hour, false)); !errors.Is(err, respond.ErrBusy) {
			t.Fatalf("second Apply = %v, want ErrBusy", err)
		}
	})
}
