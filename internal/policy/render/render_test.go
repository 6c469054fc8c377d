package render_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/render"
)

var update = flag.Bool("update", false, "rewrite golden files")

var results = []policy.Result{
	{Policy: "pss-restricted", Rule: "privileged", Control: "privileged", Result: policy.Fail, Severity: policy.SeverityCritical,
		Resource: policy.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		Message:  "Privileged containers: container \"nginx\" must not set securityContext.privileged=true",
		Field:    "spec.template.spec.containers[0].securityContext.privileged", Remediation: "Remove securityContext.privileged.",
		Source: "k8s/app.yaml#1"},
	{Policy: "best-practice", Rule: "probes", Control: "probes", Result: policy.Fail, Severity: policy.SeverityLow,
		Resource: policy.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		Message:  "container nginx lacks a liveness or readiness probe", Field: "spec.template.spec.containers[0].livenessProbe",
		Remediation: "Add a probe.", Source: "k8s/app.yaml#1"},
	{Policy: "best-practice", Rule: "no-nodeport", Control: "no-nodeport", Result: policy.Pass, Severity: policy.SeverityMedium,
		Resource: policy.Resource{APIVersion: "v1", Kind: "Service", Namespace: "shop", Name: "web"}, Message: "Service is not of type NodePort",
		Source: "<stdin>#2"},
	{Policy: "replica-limit", Rule: "validations[0]", Control: "validations[0]", Result: policy.Skip, Severity: policy.SeverityHigh,
		Resource: policy.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, Message: "binding b: no rules.example.com/v1 ReplicaLimit parameter object found"},
}

func TestGolden(t *testing.T) {
	for _, format := range render.Formats {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render.Write(&buf, format, results, render.Options{ToolVersion: "test", FailOn: policy.SeverityHigh}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", "results."+format)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("%s output differs from %s:\n%s", format, path, buf.String())
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	err := render.Write(&bytes.Buffer{}, "xml", results, render.Options{})
	if err == nil || !strings.Contains(err.Error(), "want one of") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmptyJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := render.JSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != "{\n  \"results\": []\n}" {
		t.Errorf("empty results render as %q", buf.String())
	}
}
