package envoygateway_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/envoygateway"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
)

// crd is a structural subset of Envoy Gateway's BackendTrafficPolicy schema:
// enough for the apiserver to reject a malformed rate limit.
const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: backendtrafficpolicies.gateway.envoyproxy.io
spec:
  group: gateway.envoyproxy.io
  names: {kind: BackendTrafficPolicy, listKind: BackendTrafficPolicyList, plural: backendtrafficpolicies, singular: backendtrafficpolicy, shortNames: [btp]}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            properties:
              targetRefs:
                type: array
                minItems: 1
                items:
                  type: object
                  required: [group, kind, name]
                  properties:
                    group: {type: string}
                    kind: {type: string}
                    name: {type: string, minLength: 1}
              rateLimit:
                type: object
                required: [type]
                properties:
                  type: {type: string, enum: [Global, Local]}
                  local:
                    type: object
                    properties:
                      rules:
                        type: array
                        items:
                          type: object
                          required: [limit]
                          properties:
                            limit:
                              type: object
                              required: [requests, unit]
                              properties:
                                requests: {type: integer, minimum: 0}
                                unit: {type: string, enum: [Second, Minute, Hour, Day]}
                            clientSelectors:
                              type: array
                              items:
                                type: object
                                x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`

func TestValidate(t *testing.T) {
	route := respond.Target{Kind: "HTTPRoute", Namespace: "ns", Name: "api"}
	tests := []struct {
		name   string
		target respond.Target
		params map[string]string
		ok     bool
	}{
		{"minute", route, map[string]string{"requests": "100", "unit": "Minute"}, true},
		{"with cidr", route, map[string]string{"requests": "1", "unit": "Second", "source-cidr": "192.0.2.0/24"}, true},
		{"gateway", respond.Target{Kind: "Gateway", Namespace: "ns", Name: "eg"}, map[string]string{"requests": "1", "unit": "Hour"}, true},
		{"no unit", route, map[string]string{"requests": "1"}, false},
		{"bad unit", route, map[string]string{"requests": "1", "unit": "Week"}, false},
		{"zero", route, map[string]string{"requests": "0", "unit": "Second"}, false},
		{"bad cidr", route, map[string]string{"requests": "1", "unit": "Second", "source-cidr": "x"}, false},
		{"unknown param", route, map[string]string{"requests": "1", "unit": "Second", "burst": "2"}, false},
		{"service", respond.Target{Kind: "Service", Namespace: "ns", Name: "api"}, map[string]string{"requests": "1", "unit": "Second"}, false},
		{"no namespace", respond.Target{Kind: "HTTPRoute", Name: "api"}, map[string]string{"requests": "1", "unit": "Second"}, false},
	}
	ex := envoygateway.New(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ex.Validate(respond.Request{Kind: envoygateway.Kind, Target: tt.target, Params: tt.params})
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, respond.ErrInvalid) {
				t.Fatalf("%v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestAgainstAPIServer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "backendtrafficpolicy.yaml"), []byte(crd), 0o644); err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Start(t, kubetest.Options{CRDDirectoryPaths: []string{dir}})
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clock := respondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store := respond.NewMemoryStore()
	mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{envoygateway.Kind: envoygateway.New(dyn)}, respond.Options{Now: clock.Now})
	target := respond.Target{Kind: "HTTPRoute", Namespace: "shop", Name: "checkout"}
	req := respond.Request{Kind: envoygateway.Kind, Target: target, TTL: 5 * time.Minute, Actor: "alice", Reason: "bot traffic",
		Params: map[string]string{"requests": "20", "unit": "Minute", "source-cidr": "198.51.100.7/24"}}
	policies := dyn.Resource(envoygateway.BackendTrafficPolicies).Namespace("shop")
	count := func(t *testing.T) int {
		t.Helper()
		l, err := policies.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}

	dry := req
	dry.DryRun = true
	if a, err := mgr.Apply(ctx, dry); err != nil || a.State != respond.StateDryRun || count(t) != 0 {
		t.Fatalf("dry run: state %s, err %v, %d policies", a.State, err, count(t))
	}

	a, err := mgr.Apply(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := policies.Get(ctx, envoygateway.PolicyName(target), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(got.Object, "spec", "rateLimit", "local", "rules")
	if len(rules) != 1 {
		t.Fatalf("rules %v", rules)
	}
	rule := rules[0].(map[string]any)
	if req, _, _ := unstructured.NestedInt64(rule, "limit", "requests"); req != 20 {
		t.Errorf("requests %d, want 20", req)
	}
	sel, _ := rule["clientSelectors"].([]any)
	if len(sel) != 1 {
		t.Fatalf("clientSelectors %v", rule["clientSelectors"])
	}
	if v, _, _ := unstructured.NestedString(sel[0].(map[string]any), "sourceCIDR", "value"); v != "198.51.100.0/24" {
		t.Errorf("sourceCIDR %q", v)
	}
	refs, _, _ := unstructured.NestedSlice(got.Object, "spec", "targetRefs")
	if len(refs) != 1 || refs[0].(map[string]any)["name"] != "checkout" || refs[0].(map[string]any)["kind"] != "HTTPRoute" {
		t.Errorf("targetRefs %v", refs)
	}

	clock.Advance(5 * time.Minute)
	if n, err := mgr.ReconcileOnce(ctx); err != nil || n != 1 {
		t.Fatalf("reconcile: %d, %v", n, err)
	}
	if c := count(t); c != 0 {
		t.Fatalf("%d policies left after expiry", c)
	}
	if got, _ := store.Get(ctx, a.ID); got.State != respond.StateExpired {
		t.Fatalf("state %s", got.State)
	}
}
