package bestpractice_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/bestpractice"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

func run(t *testing.T, cfg bestpractice.Config, doc string) []policy.Result {
	t.Helper()
	p, err := bestpractice.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.Decode(strings.NewReader(doc), "t.yaml")
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v", err)
	}
	res, err := policy.RunChecker(context.Background(), p, objs[0], policy.NewSet(true, objs...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// outcome summarises the results of rule as "pass", "fail@field" entries.
func outcome(res []policy.Result, rule string) string {
	var parts []string
	for _, r := range res {
		if r.Rule != rule {
			continue
		}
		s := string(r.Result)
		if r.Result == policy.Fail {
			s += "@" + r.Field
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func deployment(replicas, container string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: app}
spec:
` + replicas + `
  template:
    spec:
      containers:
      - ` + container + "\n"
}

const goodContainer = `{name: c, image: "registry.example.com/team/app:1.0", resources: {requests: {cpu: 1m, memory: 1Mi}, limits: {memory: 1Mi}}, livenessProbe: {tcpSocket: {port: 1}}}`

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		cfg  bestpractice.Config
		doc  string
		rule string
		want string
	}{
		{"privileged", bestpractice.Config{}, deployment("", `{name: c, image: x:1, securityContext: {privileged: true}}`), bestpractice.RuleNoPrivileged, "fail@spec.template.spec.containers[0].securityContext.privileged"},
		{"not privileged", bestpractice.Config{}, deployment("", goodContainer), bestpractice.RuleNoPrivileged, "pass"},
		{"latest tag", bestpractice.Config{}, deployment("", `{name: c, image: "nginx:latest"}`), bestpractice.RuleImageTag, "fail@spec.template.spec.containers[0].image"},
		{"untagged", bestpractice.Config{}, deployment("", `{name: c, image: "quay.io/org/app"}`), bestpractice.RuleImageTag, "fail@spec.template.spec.containers[0].image"},
		{"digest", bestpractice.Config{}, deployment("", `{name: c, image: "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"}`), bestpractice.RuleImageTag, "pass"},
		{"tagged with port registry", bestpractice.Config{}, deployment("", `{name: c, image: "localhost:5000/app:2"}`), bestpractice.RuleImageTag, "pass"},
		{"invalid image", bestpractice.Config{}, deployment("", `{name: c, image: "bad image!:1"}`), bestpractice.RuleImageTag, "fail@spec.template.spec.containers[0].image"},
		{"replicas unconfigured", bestpractice.Config{}, deployment("  replicas: 100", goodContainer), bestpractice.RuleReplicaRange, ""},
		{"replicas above max", bestpractice.Config{MinReplicas: 2, MaxReplicas: 5}, deployment("  replicas: 6", goodContainer), bestpractice.RuleReplicaRange, "fail@spec.replicas"},
		{"replicas default 1 below min", bestpractice.Config{MinReplicas: 2}, deployment("", goodContainer), bestpractice.RuleReplicaRange, "fail@spec.replicas"},
		{"replicas in range", bestpractice.Config{MinReplicas: 2, MaxReplicas: 5}, deployment("  replicas: 5", goodContainer), bestpractice.RuleReplicaRange, "pass"},
		{"registry allowed by host", bestpractice.Config{AllowedRegistries: []string{"registry.example.com"}}, deployment("", goodContainer), bestpractice.RuleAllowedRegistries, "pass"},
		{"registry allowed by glob", bestpractice.Config{AllowedRegistries: []string{"registry.example.com/team/*"}}, deployment("", goodContainer), bestpractice.RuleAllowedRegistries, "pass"},
		{"docker hub normalised", bestpractice.Config{AllowedRegistries: []string{"registry.example.com"}}, deployment("", `{name: c, image: "nginx:1"}`), bestpractice.RuleAllowedRegistries, "fail@spec.template.spec.containers[0].image"},
		{"docker hub library allowed", bestpractice.Config{AllowedRegistries: []string{"docker.io/library/*"}}, deployment("", `{name: c, image: "nginx:1"}`), bestpractice.RuleAllowedRegistries, "pass"},
		{"resources missing", bestpractice.Config{}, deployment("", `{name: c, image: x:1}`), bestpractice.RuleResources, "fail@spec.template.spec.containers[0].resources.requests.cpu"},
		{"resources ok", bestpractice.Config{}, deployment("", goodContainer), bestpractice.RuleResources, "pass"},
		{"cpu limit required", bestpractice.Config{RequireCPULimit: true}, deployment("", goodContainer), bestpractice.RuleResources, "fail@spec.template.spec.containers[0].resources.limits.cpu"},
		{"probes any-of", bestpractice.Config{}, deployment("", goodContainer), bestpractice.RuleProbes, "pass"},
		{"probes all-of", bestpractice.Config{Probes: bestpractice.ProbesAllOf}, deployment("", goodContainer), bestpractice.RuleProbes, "fail@spec.template.spec.containers[0].readinessProbe"},
		{"probes none", bestpractice.Config{}, deployment("", `{name: c, image: x:1}`), bestpractice.RuleProbes, "fail@spec.template.spec.containers[0].livenessProbe"},
		{"no probes needed for jobs", bestpractice.Config{}, `apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: a}
spec: {template: {spec: {containers: [{name: c, image: x:1}]}}}
`, bestpractice.RuleProbes, ""},
		{"namespace default", bestpractice.Config{}, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n", bestpractice.RuleNoDefaultNamespace, "fail@metadata.namespace"},
		{"namespace missing", bestpractice.Config{}, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", bestpractice.RuleNoDefaultNamespace, "fail@metadata.namespace"},
		{"cluster scoped", bestpractice.Config{}, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\n", bestpractice.RuleNoDefaultNamespace, ""},
		{"nodeport", bestpractice.Config{}, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec: {type: NodePort}\n", bestpractice.RuleNoNodePort, "fail@spec.type"},
		{"clusterip", bestpractice.Config{}, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec: {}\n", bestpractice.RuleNoNodePort, "pass"},
		{"cronjob path", bestpractice.Config{}, `apiVersion: batch/v1
kind: CronJob
metadata: {name: j, namespace: a}
spec: {schedule: "* * * * *", jobTemplate: {spec: {template: {spec: {initContainers: [{name: i, image: "x:1", securityContext: {privileged: true}}], containers: [{name: c, image: x:1}]}}}}}
`, bestpractice.RuleNoPrivileged, "fail@spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.privileged pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcome(run(t, tt.cfg, tt.doc), tt.rule); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.rule, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     bestpractice.Config
		wantErr bool
	}{
		{bestpractice.Config{}, false},
		{bestpractice.Config{MinReplicas: 3, MaxReplicas: 2}, true},
		{bestpractice.Config{MinReplicas: -1}, true},
		{bestpractice.Config{AllowedRegistries: []string{"[bad"}}, true},
		{bestpractice.Config{Probes: "some"}, true},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("Validate(%+v) = %v, wantErr %v", tt.cfg, err, tt.wantErr)
		}
	}
}

func TestMatchRegistry(t *testing.T) {
	tests := []struct {
		glob, name string
		want       bool
	}{
		{"registry.example.com", "registry.example.com/a/b", true},
		{"registry.example.com/team/*", "registry.example.com/team/app/worker", true},
		{"registry.example.com/team/*", "registry.example.com/other/app", false},
		{"*.gcr.io", "eu.gcr.io/proj/app", true},
		{"registry.example.com", "registry.example.com.evil.io/app", false},
	}
	for _, tt := range tests {
		if got := bestpractice.MatchRegistry(tt.glob, tt.name); got != tt.want {
			t.Errorf("MatchRegistry(%q, %q) = %v, want %v", tt.glob, tt.name, got, tt.want)
		}
	}
}
