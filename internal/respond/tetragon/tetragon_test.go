package tetragon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/respondtest"
	"github.com/kubeward/kubeward/internal/respond/tetragon"
)

// crdTemplate is a structural subset of Tetragon's TracingPolicy schema.
const crdTemplate = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[2]s.cilium.io
spec:
  group: cilium.io
  names: {kind: %[1]s, listKind: %[1]sList, plural: %[2]s, singular: %[3]s}
  scope: %[4]s
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
            x-kubernetes-preserve-unknown-fields: true
            properties:
              kprobes:
                type: array
                items:
                  type: object
                  required: [call]
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    call: {type: string, minLength: 1}
                    syscall: {type: boolean}
`

const kprobeSpec = `kprobes:
- call: sys_write
  syscall: true
  args:
  - index: 0
    type: int
  selectors:
  - matchActions:
    - action: Sigkill
`

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name, src string
		ok        bool
	}{
		{"yaml kprobe", kprobeSpec, true},
		{"json tracepoint", `{"tracepoints":[{"subsystem":"syscalls","event":"sys_enter_connect"}]}`, true},
		{"lsm", "lsmhooks:\n- hook: file_open\n", true},
		{"empty", "", false},
		{"scalar", "42", false},
		{"list", "- kprobes: []", false},
		{"no hook", "options:\n- name: x\n", false},
		{"empty hook", "kprobes: []\n", false},
		{"bad yaml", "kprobes: [\n", false},
		{"too big", "kprobes:\n- call: x\n" + strings.Repeat("#", tetragon.MaxSpecBytes), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tetragon.ParseSpec(tt.src)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSpec = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, respond.ErrInvalid) {
				t.Fatalf("%v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidateTarget(t *testing.T) {
	ex := tetragon.New(nil)
	tests := []struct {
		target respond.Target
		ok     bool
	}{
		{respond.Target{Kind: "TracingPolicy", Name: "block-write"}, true},
		{respond.Target{Kind: "TracingPolicyNamespaced", Namespace: "shop", Name: "block-write"}, true},
		{respond.Target{Kind: "TracingPolicy", Namespace: "shop", Name: "block-write"}, false},
		{respond.Target{Kind: "TracingPolicyNamespaced", Name: "block-write"}, false},
		{respond.Target{Kind: "TracingPolicy", Name: "Not_A_Name"}, false},
		{respond.Target{Kind: "Pod", Name: "x"}, false},
	}
	for _, tt := range tests {
		err := ex.Validate(respond.Request{Target: tt.target, Params: map[string]string{tetragon.ParamSpec: kprobeSpec}})
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%v) = %v, want ok=%t", tt.target, err, tt.ok)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add(kprobeSpec)
	f.Add(`{"tracepoints":[{"subsystem":"raw_syscalls","event":"sys_enter"}]}`)
	f.Add("kprobes: &a [*a]\n")
	f.Fuzz(func(t *testing.T, src string) {
		spec, err := tetragon.ParseSpec(src)
		if err == nil && spec == nil {
			t.Fatal("nil spec without error")
		}
	})
}

func TestAgainstAPIServer(t *testing.T) {
	dir := t.TempDir()
	for file, args := range map[string][]any{
		"tracingpolicy.yaml":           {"TracingPolicy", "tracingpolicies", "tracingpolicy", "Cluster"},
		"tracingpolicynamespaced.yaml": {"TracingPolicyNamespaced", "tracingpoliciesnamespaced", "tracingpolicynamespaced", "Namespaced"},
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(fmt.Sprintf(crdTemplate, args...)), 0o644); err != nil {
			t.Fatal(err)
		}
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
	ex := tetragon.New(dyn)
	mgr := respond.NewManager(store, map[respond.Kind]respond.Executor{tetragon.Kind: ex}, respond.Options{Now: clock.Now})
	req := func(target respond.Target, spec string, dryRun bool) respond.Request {
		return respond.Request{Kind: tetragon.Kind, Target: target, TTL: time.Hour, DryRun: dryRun, Actor: "alice", Reason: "block exfiltration",
			Params: map[string]string{tetragon.ParamSpec: spec}}
	}
	cluster1 := respond.Target{Kind: "TracingPolicy", Name: "kill-writes"}
	ns1 := respond.Target{Kind: "TracingPolicyNamespaced", Namespace: "shop", Name: "kill-writes"}

	if a, err := mgr.Apply(ctx, req(cluster1, kprobeSpec, true)); err != nil || a.State != respond.StateDryRun {
		t.Fatalf("dry run: %s, %v", a.State, err)
	}
	// The apiserver's schema rejects a kprobe without call, also in a dry run.
	if _, err := mgr.Apply(ctx, req(cluster1, "kprobes:\n- syscall: true\n", true)); err == nil {
		t.Fatal("dry run of a schema-invalid policy succeeded")
	}
	if l, err := ex.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("after dry runs: %v, %v", l, err)
	}

	a1, err := mgr.Apply(ctx, req(cluster1, kprobeSpec, false))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := mgr.Apply(ctx, req(ns1, kprobeSpec, false))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(tetragon.TracingPolicies).Get(ctx, "kill-writes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if call, _, _ := unstructured.NestedSlice(got.Object, "spec", "kprobes"); len(call) != 1 || call[0].(map[string]any)["call"] != "sys_write" {
		t.Fatalf("spec not stored: %v", got.Object["spec"])
	}
	l, err := ex.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]tetragon.Policy{
		{Kind: "TracingPolicy", Name: "kill-writes", ActionID: a1.ID},
		{Kind: "TracingPolicyNamespaced", Namespace: "shop", Name: "kill-writes", ActionID: a2.ID},
	})
	if fmt.Sprint(l) != want {
		t.Fatalf("List = %v, want %v", l, want)
	}

	if _, err := mgr.Revert(ctx, a1.ID, "bob", "incident closed"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if n, err := mgr.ReconcileOnce(ctx); err != nil || n != 1 {
		t.Fatalf("reconcile: %d, %v", n, err)
	}
	if l, err := ex.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("after revert and expiry: %v, %v", l, err)
	}
}
