package celpolicy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/celpolicy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadBundle(t *testing.T, files ...string) *celpolicy.Bundle {
	t.Helper()
	b := &celpolicy.Bundle{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := celpolicy.Load(bytes.NewReader(data), f)
		if err != nil {
			t.Fatalf("Load(%s): %v", f, err)
		}
		b.Add(got)
	}
	return b
}

func evaluate(t *testing.T, b *celpolicy.Bundle, objects string) []policy.Result {
	t.Helper()
	compiled, err := celpolicy.Compile(b)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	objs, err := manifest.Load(context.Background(), nil, filepath.Join("testdata", objects))
	if err != nil {
		t.Fatal(err)
	}
	checkers := make([]policy.Checker, len(compiled))
	for i, c := range compiled {
		checkers[i] = c
	}
	res, err := policy.NewEngine(checkers...).Evaluate(context.Background(), policy.NewSet(true, objs...))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func golden(t *testing.T, name string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	path := filepath.Join("testdata", "golden", name)
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
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, data) {
		t.Errorf("%s differs from the golden file:\n%s", name, data)
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		files  []string
		golden string
	}{
		{"vap with binding and params", []string{"vap-replicas.yaml"}, "vap-replicas.json"},
		{"celpolicy with inline params", []string{"celpolicy-labels.yaml"}, "celpolicy-labels.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.golden, evaluate(t, loadBundle(t, tt.files...), "objects.yaml"))
		})
	}
}

func TestVAPSemantics(t *testing.T) {
	res := evaluate(t, loadBundle(t, "vap-replicas.yaml"), "objects.yaml")
	byName := map[string][]policy.Result{}
	for _, r := range res {
		byName[r.Resource.Name] = append(byName[r.Resource.Name], r)
	}
	tests := []struct {
		name     string
		outcomes []policy.Outcome
		message  string
	}{
		{"web", []policy.Outcome{policy.Fail, policy.Pass}, "replicas 5 exceeds the limit of 3"},
		{"api", []policy.Outcome{policy.Pass, policy.Pass}, ""},
		{"an-exceedingly-long-deployment-name", nil, ""}, // matchConditions exclude it
		{"devapp", nil, ""}, // binding's namespaceSelector excludes dev
		{"implicit-one", []policy.Outcome{policy.Pass, policy.Pass}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byName[tt.name]
			if len(got) != len(tt.outcomes) {
				t.Fatalf("got %d results %+v, want %d", len(got), got, len(tt.outcomes))
			}
			for i, r := range got {
				if r.Result != tt.outcomes[i] {
					t.Errorf("result %d = %s, want %s (%s)", i, r.Result, tt.outcomes[i], r.Message)
				}
				if r.Result == policy.Fail {
					if !strings.HasPrefix(r.Message, tt.message) {
						t.Errorf("message %q, want prefix %q", r.Message, tt.message)
					}
					if len(r.Actions) != 2 || r.Actions[0] != policy.ActionDeny || r.Actions[1] != policy.ActionAudit {
						t.Errorf("actions %v, want [Deny Audit]", r.Actions)
					}
					if r.Severity != policy.SeverityMedium {
						t.Errorf("severity %s, want medium from the annotation", r.Severity)
					}
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown kind", "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: x}\n", "unsupported policy kind"},
		{"unknown field", "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: x}\nspec: {validationz: []}\n", "unknown field"},
		{"not yaml", "a: [b\n", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := celpolicy.Load(strings.NewReader(tt.doc), "in.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"syntax", `apiVersion: policy.kubeward.io/v1alpha1
kind: CELPolicy
metadata: {name: bad}
spec:
  validations: [{expression: "object.spec.replicas <"}]
`, "compilation failed"},
		{"not bool", `apiVersion: policy.kubeward.io/v1alpha1
kind: CELPolicy
metadata: {name: bad}
spec:
  validations: [{expression: "1 + 1"}]
`, "must evaluate to bool"},
		{"params without binding", `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  validations: [{expression: "true"}]
`, "no binding"},
		{"binding to missing policy", `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: b}
spec: {policyName: nope, validationActions: [Deny]}
`, "not loaded"},
		{"bad severity", `apiVersion: policy.kubeward.io/v1alpha1
kind: CELPolicy
metadata: {name: bad}
spec:
  severity: extreme
  validations: [{expression: "true"}]
`, "unknown severity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := celpolicy.Load(strings.NewReader(tt.doc), "in.yaml")
			if err != nil {
				t.Fatal(err)
			}
			_, err = celpolicy.Compile(b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
