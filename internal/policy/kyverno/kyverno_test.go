package kyverno_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/kyverno"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func evaluate(t *testing.T) []policy.Result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := kyverno.Load(bytes.NewReader(data), "policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkers := make([]policy.Checker, len(ps))
	for i, p := range ps {
		checkers[i] = p
	}
	objs, err := manifest.Load(context.Background(), nil, filepath.Join("testdata", "objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := policy.NewEngine(checkers...).Evaluate(context.Background(), policy.NewSet(true, objs...))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGolden(t *testing.T) {
	data, err := json.MarshalIndent(evaluate(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", "results.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(want, data) {
		t.Errorf("results differ from %s:\n%s", path, data)
	}
}

func TestSemantics(t *testing.T) {
	got := map[string]string{}
	for _, r := range evaluate(t) {
		key := r.Policy + "/" + r.Rule + " " + r.Resource.Name
		if r.Control != r.Rule {
			key += " " + r.Control
		}
		if r.Result == policy.Fail {
			got[key] = "fail@" + r.Field
		} else {
			got[key] = string(r.Result)
		}
	}
	tests := map[string]string{
		"disallow-privileged-containers/privileged-containers web":  "fail@spec.template.spec.containers[0].securityContext.privileged",
		"disallow-privileged-containers/privileged-containers tidy": "pass",
		"disallow-latest-tag/require-image-tag hourly-report":       "fail@spec.jobTemplate.spec.template.spec.containers[0].image",
		"disallow-latest-tag/validate-image-tag web":                "fail@spec.template.spec.containers[0].image",
		"disallow-latest-tag/validate-image-tag batch":              "pass",
		"require-requests-limits/validate-resources web":            "fail@spec.template.spec.containers[0].resources",
		"require-requests-limits/validate-resources batch":          "pass",
		"replica-bounds/max-replicas web":                           "fail@",
		"replica-bounds/no-host-network-when-labelled web":          "fail@spec.template.spec.hostNetwork",
		"replica-bounds/no-host-network-when-labelled batch":        "pass",
		"psa-restricted/restricted tidy privileged":                 "pass",
		"psa-restricted/restricted web privileged":                  "fail@spec.template.spec.containers[0].securityContext.privileged",
	}
	for k, want := range tests {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, absent := range []string{
		"replica-bounds/max-replicas batch",                        // excluded by selector
		"psa-restricted/restricted tidy seccompProfile_restricted", // excluded control
	} {
		if v, ok := got[absent]; ok {
			t.Errorf("%s reported (%s), want no result", absent, v)
		}
	}
}

func TestRefusals(t *testing.T) {
	base := func(rule string) string {
		return "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec:\n  rules:\n" + rule
	}
	tests := []struct {
		name, doc, want string
	}{
		{"mutate", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    mutate: {patchStrategicMerge: {}}\n"), "spec.rules[0].mutate"},
		{"foreach", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    validate: {foreach: []}\n"), "validate.foreach"},
		{"cel", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    validate: {cel: {expressions: []}}\n"), "validate.cel"},
		{"global anchor", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    validate: {pattern: {spec: {<(x): y}}}\n"), "anchor"},
		{"subjects", base("  - name: r\n    match: {any: [{subjects: [{kind: User, name: a}]}]}\n    validate: {pattern: {}}\n"), "subjects"},
		{"jmespath", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    validate: {deny: {conditions: [{key: \"{{ length(request.object.spec.containers) }}\", operator: Equals, value: 1}]}}\n"), "JMESPath"},
		{"preconditions", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    preconditions: {all: []}\n    validate: {pattern: {}}\n"), "preconditions"},
		{"podSecurity images", base("  - name: r\n    match: {resources: {kinds: [Pod]}}\n    validate: {podSecurity: {level: baseline, exclude: [{controlName: Capabilities, images: [nginx]}]}}\n"), "images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kyverno.Load(strings.NewReader(tt.doc), "p.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if !errors.Is(err, kyverno.ErrUnsupported) {
				t.Errorf("err does not wrap ErrUnsupported: %v", err)
			}
		})
	}
}
