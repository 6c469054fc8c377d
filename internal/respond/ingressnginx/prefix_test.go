package ingressnginx_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/ingressnginx"
)

func TestNewAnnotationPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		want   string // AnnotationPrefix(); "" = refused
	}{
		{"", "nginx.ingress.kubernetes.io/"},
		{"nginx.ingress.kubernetes.io", "nginx.ingress.kubernetes.io/"},
		{"ingress.example.com", "ingress.example.com/"},
		{"custom", "custom/"},
		{"Ingress.Example.com", ""},
		{"ingress.example.com/", ""},
		{"-bad.example.com", ""},
		{"a b", ""},
		{string(make([]byte, 254)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			ex, err := ingressnginx.New(nil, ingressnginx.Options{AnnotationPrefix: tt.prefix})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("prefix %q accepted as %q", tt.prefix, ex.AnnotationPrefix())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ex.AnnotationPrefix(); got != tt.want {
				t.Errorf("AnnotationPrefix() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCustomPrefixAgainstAPIServer rate-limits an Ingress for a controller
// started with --annotations-prefix=ingress.example.com: the executor sets
// that prefix's annotations, leaves nginx.ingress.kubernetes.io ones
// alone, and reverts byte for byte, also when kubeward restarted meanwhile
// with another prefix (the action recorded the names it set).
func TestCustomPrefixAgainstAPIServer(t *testing.T) {
	cluster := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	const custom = "ingress.example.com"
	userAnn := map[string]string{
		custom + "/limit-rps":                   "5", // the user's own value, to be restored
		"nginx.ingress.kubernetes.io/limit-rpm": "60",
	}
	for _, revertPrefix := range []string{custom, ""} {
		t.Run("revert with prefix "+revertPrefix, func(t *testing.T) {
			ns := "custom-prefix"
			if revertPrefix == "" {
				ns += "-default"
			}
			e := newEnv(cluster.Client)
			e.prefix = custom
			e.mgr = e.restart()
			before := e.ingress(t, ns, userAnn)
			a, err := e.mgr.Apply(ctx, request(ns, time.Hour, false))
			if err != nil {
				t.Fatal(err)
			}
			got := e.get(t, ns).Annotations
			want := maps.Clone(userAnn)
			for k, v := range map[string]string{"limit-rps": "10", "limit-rpm": "300", "limit-whitelist": "10.0.0.0/8"} {
				want[custom+"/"+k] = v
			}
			if !maps.Equal(got, want) {
				t.Fatalf("annotations after apply %v, want %v", slices.Sorted(maps.Keys(got)), want)
			}
			e.prefix = revertPrefix
			if _, err := e.restart().Revert(ctx, a.ID, "bob", "done"); err != nil {
				t.Fatal(err)
			}
			wantSame(t, before, e.get(t, ns))
			wantState(t, e, a.ID, respond.StateReverted)
		})
	}
}
