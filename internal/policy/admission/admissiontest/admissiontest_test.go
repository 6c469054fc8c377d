package admissiontest

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConfiguration(t *testing.T) {
	w := &Webhook{URL: "https://127.0.0.1:1234/validate", CABundle: []byte("PEM")}
	tests := []struct {
		name          string
		opts          Options
		wantName      string
		wantPolicy    admissionregistrationv1.FailurePolicyType
		wantTimeout   int32
		wantExcluded  []string
		wantResources int
	}{
		{"defaults", Options{}, "kubeward-admissiontest", admissionregistrationv1.Ignore, 3, []string{"kube-system"}, len(DefaultRules)},
		{"overrides", Options{
			Name: "strict", FailurePolicy: admissionregistrationv1.Fail, TimeoutSeconds: 10,
			ExcludedNamespaces: []string{"kube-system", "kubeward"}, Rules: DefaultRules[:1],
		}, "strict", admissionregistrationv1.Fail, 10, []string{"kube-system", "kubeward"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.configuration(tt.opts.withDefaults())
			if c.Name != tt.wantName || len(c.Webhooks) != 1 {
				t.Fatalf("configuration %s with %d webhooks, want %s with 1", c.Name, len(c.Webhooks), tt.wantName)
			}
			h := c.Webhooks[0]
			if h.Name != tt.wantName+".kubeward.io" {
				t.Errorf("webhook name %s", h.Name)
			}
			if *h.ClientConfig.URL != w.URL || string(h.ClientConfig.CABundle) != "PEM" || h.ClientConfig.Service != nil {
				t.Errorf("client config %+v: want url %s and the CA bundle", h.ClientConfig, w.URL)
			}
			if *h.FailurePolicy != tt.wantPolicy || *h.TimeoutSeconds != tt.wantTimeout {
				t.Errorf("failurePolicy %s timeout %d, want %s %d", *h.FailurePolicy, *h.TimeoutSeconds, tt.wantPolicy, tt.wantTimeout)
			}
			if *h.SideEffects != admissionregistrationv1.SideEffectClassNone || len(h.AdmissionReviewVersions) != 1 || h.AdmissionReviewVersions[0] != "v1" {
				t.Errorf("sideEffects %s, versions %v: want None, [v1]", *h.SideEffects, h.AdmissionReviewVersions)
			}
			if len(h.Rules) != tt.wantResources {
				t.Errorf("%d rules, want %d", len(h.Rules), tt.wantResources)
			}
			sel := h.NamespaceSelector.MatchExpressions
			if len(sel) != 1 || sel[0].Key != "kubernetes.io/metadata.name" || sel[0].Operator != metav1.LabelSelectorOpNotIn ||
				len(sel[0].Values) != len(tt.wantExcluded) {
				t.Fatalf("namespaceSelector %+v: want metadata.name NotIn %v", sel, tt.wantExcluded)
			}
			for i, v := range tt.wantExcluded {
				if sel[0].Values[i] != v {
					t.Errorf("excluded %v, want %v", sel[0].Values, tt.wantExcluded)
				}
			}
		})
	}
}
