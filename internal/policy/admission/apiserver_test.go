package admission_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/inproc"
	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/admission/admissiontest"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// violations collects what the handler publishes on the in-process bus,
// by message key (namespace/kind/name).
type violations struct {
	mu    sync.Mutex
	byKey map[string][]admission.Violation
}

func consumeViolations(t *testing.T, b *inproc.Bus) *violations {
	t.Helper()
	v := &violations{byKey: map[string][]admission.Violation{}}
	opts := bus.ConsumeOptions{Group: "apiserver-test", Topics: []string{admission.TopicViolations}}
	if err := b.DeclareGroup(opts.Group, opts.Topics...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, opts, func(_ context.Context, batch []bus.Message) error {
			v.mu.Lock()
			defer v.mu.Unlock()
			for _, m := range batch {
				var viol admission.Violation
				if err := json.Unmarshal(m.Value, &viol); err != nil {
					return bus.Permanent(fmt.Errorf("violation %s: %w", m.Key, err))
				}
				if m.Headers["kubeward-decision"] != viol.Decision || m.Headers["kubeward-policy"] != viol.Result.Policy {
					return bus.Permanent(fmt.Errorf("violation %s: headers %v disagree with body", m.Key, m.Headers))
				}
				v.byKey[m.Key] = append(v.byKey[m.Key], viol)
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consuming violations: %v", err)
		}
	})
	return v
}

// waitFor polls until key has at least n violations and returns them.
func (v *violations) waitFor(ctx context.Context, key string, n int) ([]admission.Violation, error) {
	var got []admission.Violation
	err := kubetest.WaitFor(ctx, func(context.Context) (bool, error) {
		v.mu.Lock()
		defer v.mu.Unlock()
		got = slices.Clone(v.byKey[key])
		return len(got) >= n, nil
	})
	if err != nil {
		return got, fmt.Errorf("waiting for %d violations of %s (have %d): %w", n, key, len(got), err)
	}
	return got, nil
}

func (v *violations) get(key string) []admission.Violation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.byKey[key])
}

func ptr[T any](v T) *T { return &v }

// restrictedContainer satisfies every restricted control.
func restrictedContainer(name string) corev1.Container {
	return corev1.Container{
		Name: name, Image: "registry.example.com/app:1.2.3",
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			RunAsNonRoot:             ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

func pod(ns, name string, mutate func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{restrictedContainer("app")}},
	}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func deployment(ns, name string, mutate func(*corev1.PodSpec)) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{restrictedContainer("app")}},
			},
		},
	}
	if mutate != nil {
		mutate(&d.Spec.Template.Spec)
	}
	return d
}

// privileged makes the first container privileged (the apiserver refuses
// privileged with allowPrivilegeEscalation false, so that is lifted too).
func privileged(s *corev1.PodSpec) {
	s.Containers[0].SecurityContext.Privileged = ptr(true)
	s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
}

// asRoot runs the pod as UID 0 and lifts runAsNonRoot.
func asRoot(s *corev1.PodSpec) {
	s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(0))}
	s.Containers[0].SecurityContext.RunAsNonRoot = ptr(false)
}

// failures evaluates obj with eng directly: the results the webhook must
// act on.
func failures(t *testing.T, eng *policy.Engine, obj runtime.Object) []policy.Result {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	o, err := policy.NewObject(&unstructured.Unstructured{Object: m}, "test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.EvaluateObject(context.Background(), o, policy.NewSet(false, o), nil)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(res, func(r policy.Result) bool { return r.Result != policy.Fail })
}

func create(ctx context.Context, c kubernetes.Interface, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		_, err := c.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		return err
	case *appsv1.Deployment:
		_, err := c.AppsV1().Deployments(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		return err
	}
	return fmt.Errorf("create: unsupported %T", obj)
}

func key(obj runtime.Object) string {
	m := obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
	return m.GetNamespace() + "/" + obj.GetObjectKind().GroupVersionKind().Kind + "/" + m.GetName()
}

func ruleIDs(rs []policy.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Policy+"/"+r.Rule)
	}
	slices.Sort(out)
	return out
}

// hasWarning reports whether a warning names r with (the start of) its
// message; warnings are clipped, so only a prefix is compared.
func hasWarning(ws []string, r policy.Result) bool {
	msg := r.Message
	if len(msg) > 80 {
		msg = msg[:80]
	}
	for _, w := range ws {
		if strings.HasPrefix(w, r.Policy+"/"+r.Rule+": "+msg) {
			return true
		}
	}
	return false
}

// TestAgainstAPIServer registers the handler with a real kube-apiserver
// and creates objects through it in each enforcement mode.
func TestAgainstAPIServer(t *testing.T) {
	cluster := kubetest.Start(t, kubetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns = "team-a"
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	eng, err := packs.Build(packs.Config{Packs: []string{packs.PSSRestricted}})
	if err != nil {
		t.Fatal(err)
	}
	b := inproc.New(inproc.Options{Logger: quiet})
	t.Cleanup(func() { _ = b.Close() })
	published := consumeViolations(t, b)
	handler := func(a policy.Action) *admission.Handler {
		h, err := admission.NewHandler(admission.Config{
			Engine: eng, Actions: map[string]policy.Action{packs.PSSRestricted: a},
			Publisher: b, Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	wh := admissiontest.Start(t, cluster, handler(policy.ActionDeny), admissiontest.Options{})
	if err := wh.WaitActive(ctx, cluster.Client, ns); err != nil {
		t.Fatal(err)
	}

	decision := map[policy.Action]string{policy.ActionDeny: admission.DecisionDeny, policy.ActionAudit: admission.DecisionAudit}
	for _, mode := range []policy.Action{policy.ActionDeny, policy.ActionWarn, policy.ActionAudit} {
		t.Run(string(mode), func(t *testing.T) {
			wh.SetHandler(handler(mode))
			prefix := strings.ToLower(string(mode))
			objects := []struct {
				obj       runtime.Object
				violating bool
			}{
				{pod(ns, prefix+"-privileged", privileged), true},
				{deployment(ns, prefix+"-root", asRoot), true},
				{pod(ns, prefix+"-compliant", nil), false},
				{deployment(ns, prefix+"-compliant", nil), false},
			}
			for _, tc := range objects {
				t.Run(key(tc.obj), func(t *testing.T) {
					want := failures(t, eng, tc.obj)
					if tc.violating != (len(want) > 0) {
						t.Fatalf("fixture: violating=%v but the engine reports %v", tc.violating, ruleIDs(want))
					}
					client, warnings := admissiontest.ClientWithWarnings(t, cluster.Config)
					calls := wh.Calls()
					err := create(ctx, client, tc.obj)
					ws := warnings.Take()
					if wh.Calls() == calls {
						t.Fatalf("the webhook was not called for %s (create: %v)", key(tc.obj), err)
					}

					denied := mode == policy.ActionDeny && tc.violating
					switch {
					case denied && err == nil:
						t.Fatalf("%s was admitted; want denied for %v", key(tc.obj), ruleIDs(want))
					case denied:
						for _, r := range want {
							if !strings.Contains(err.Error(), r.Policy+"/"+r.Rule+": "+r.Message) {
								t.Errorf("denial does not carry %s/%s: %q\nerror: %v", r.Policy, r.Rule, r.Message, err)
							}
						}
					case err != nil:
						t.Fatalf("%s was refused: %v", key(tc.obj), err)
					}

					if mode == policy.ActionWarn {
						if len(ws) != len(want) {
							t.Errorf("warnings %q: want one per failure %v", ws, ruleIDs(want))
						}
						for _, r := range want {
							if !hasWarning(ws, r) {
								t.Errorf("no warning for %s/%s %q in %q", r.Policy, r.Rule, r.Message, ws)
							}
						}
					} else if len(ws) > 0 {
						t.Errorf("unexpected warnings in %s mode: %q", mode, ws)
					}

					// Deny and Audit publish one violation per failure.
					if mode == policy.ActionWarn || !tc.violating {
						if got := published.get(key(tc.obj)); len(got) > 0 {
							t.Errorf("published %d violations, want none: %+v", len(got), got)
						}
						return
					}
					got, err := published.waitFor(ctx, key(tc.obj), len(want))
					if err != nil {
						t.Fatal(err)
					}
					messages := map[string]string{}
					for _, r := range want {
						messages[r.Policy+"/"+r.Rule] = r.Message
					}
					var rules []string
					for _, v := range got {
						id := v.Result.Policy + "/" + v.Result.Rule
						rules = append(rules, id)
						if v.Result.Message != messages[id] || v.Result.Resource.Name != tc.obj.(metav1.Object).GetName() {
							t.Errorf("violation %s of %s: message %q, want %q", id, v.Result.Resource, v.Result.Message, messages[id])
						}
						if v.Decision != decision[mode] || v.Action != mode || v.Operation != "CREATE" || v.User == "" || v.RequestUID == "" {
							t.Errorf("violation %+v: want decision %s, action %s on CREATE with user and uid", v, decision[mode], mode)
						}
					}
					slices.Sort(rules)
					if !slices.Equal(rules, ruleIDs(want)) {
						t.Errorf("published violations %v, want %v", rules, ruleIDs(want))
					}
				})
			}
		})
	}

	t.Run("webhook down: failurePolicy Ignore admits", func(t *testing.T) {
		wh.SetHandler(handler(policy.ActionDeny))
		wh.Stop()
		calls := wh.Calls()
		for _, obj := range []runtime.Object{pod(ns, "down-privileged", privileged), deployment(ns, "down-root", asRoot)} {
			if err := create(ctx, cluster.Client, obj); err != nil {
				t.Errorf("%s refused with the webhook down: %v", key(obj), err)
			}
		}
		if _, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "down-privileged", metav1.GetOptions{}); err != nil {
			t.Errorf("the pod admitted with the webhook down is not stored: %v", err)
		}
		if wh.Calls() != calls {
			t.Errorf("the stopped webhook answered %d reviews", wh.Calls()-calls)
		}
	})
}
