package hardening_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/hardening"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

// outcomes runs the pack over every object of docs (one complete set) and
// returns "Kind/name rule result[@field]" lines for rule.
func outcomes(t *testing.T, complete bool, docs, rule string) string {
	t.Helper()
	objs, err := manifest.Decode(strings.NewReader(docs), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := policy.NewSet(complete, objs...)
	var lines []string
	for _, o := range objs {
		res, err := policy.RunChecker(context.Background(), hardening.New(), o, set, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Rule != rule {
				continue
			}
			l := r.Resource.Kind + "/" + r.Resource.Name + " " + string(r.Result)
			if r.Result == policy.Fail {
				l += "@" + r.Field
				if r.Remediation == "" {
					t.Errorf("%s: failure without remediation", l)
				}
			}
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

const workload = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      automountServiceAccountToken: false
      volumes: [{name: cache, emptyDir: {}}, {name: sock, hostPath: {path: /run}}]
      containers:
      - {name: a, image: x:1, imagePullPolicy: Always, securityContext: {readOnlyRootFilesystem: true}}
      - {name: b, image: x:1}
`

func TestRules(t *testing.T) {
	tests := []struct {
		name     string
		complete bool
		docs     string
		rule     string
		want     string
	}{
		{"read-only root", true, workload, hardening.RuleReadOnlyRootFS,
			"Deployment/web pass; Deployment/web fail@spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem"},
		{"automount opted out", true, workload, hardening.RuleAutomountToken, "Deployment/web pass"},
		{"automount default", true, "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c, image: x:1}]}\n",
			hardening.RuleAutomountToken, "Pod/p fail@spec.automountServiceAccountToken"},
		{"host path", true, workload, hardening.RuleHostPath, "Deployment/web fail@spec.template.spec.volumes[1].hostPath"},
		{"pull policy", true, workload, hardening.RuleImagePullPolicy,
			"Deployment/web pass; Deployment/web fail@spec.template.spec.containers[1].imagePullPolicy"},
		{"no network policy", true, workload, hardening.RuleNetworkPolicy, "Deployment/web fail@spec.template.metadata.labels"},
		{"network policy selects", true, workload + `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: front, namespace: shop}
spec: {podSelector: {matchExpressions: [{key: tier, operator: In, values: [front]}]}}
`, hardening.RuleNetworkPolicy, "Deployment/web pass"},
		{"network policy in another namespace", true, workload + `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all, namespace: other}
spec: {podSelector: {}}
`, hardening.RuleNetworkPolicy, "Deployment/web fail@spec.template.metadata.labels"},
		{"incomplete set draws no conclusion", false, workload, hardening.RuleNetworkPolicy, ""},
		{"service matches", true, workload + `---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}}
`, hardening.RuleServiceSelector, "Service/web pass"},
		{"service matches nothing", true, workload + `---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: api}}
`, hardening.RuleServiceSelector, "Service/web fail@spec.selector"},
		{"service without selector", true, "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: a}\nspec: {type: ExternalName, externalName: example.com}\n",
			hardening.RuleServiceSelector, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcomes(t, tt.complete, tt.docs, tt.rule); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
