package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
)

// policyFailures runs `policy scan -o json` with args and returns its exit
// code and the failed results as "policy/rule namespace/name <- source".
func policyFailures(t *testing.T, args ...string) ([]string, int) {
	t.Helper()
	out, code := run(t, append([]string{"--log-level", "warn", "policy", "scan", "-o", "json"}, args...)...)
	if code == ExitError {
		return nil, code
	}
	var doc struct {
		Results []struct {
			Policy, Rule, Result, Source string
			Resource                     struct{ Namespace, Name string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("policy scan output is not JSON: %v\n%s", err, out)
	}
	var fails []string
	for _, r := range doc.Results {
		if r.Result == "fail" {
			fails = append(fails, r.Policy+"/"+r.Rule+" "+r.Resource.Namespace+"/"+r.Resource.Name+" <- "+r.Source)
		}
	}
	slices.Sort(fails)
	return fails, code
}

func TestPolicyScanHelmAndKustomize(t *testing.T) {
	chart := filepath.Join("..", "policy", "helmchart", "testdata", "web")
	debugValues := filepath.Join("..", "policy", "helmchart", "testdata", "debug-values.yaml")
	kustomizations := filepath.Join("..", "policy", "kustomization", "testdata")
	baseFile := filepath.Join(kustomizations, "base", "deployment.yaml")
	tests := []struct {
		name string
		args []string
		want []string
		code int
	}{
		{name: "compliant chart", args: []string{"--pack", "pss-restricted", "--helm", chart}, code: ExitOK},
		{name: "values file adds a privileged pod", args: []string{"--pack", "pss-restricted", "--helm", chart, "--values", debugValues, "--namespace", "tools"},
			want: []string{
				"pss-restricted/allowPrivilegeEscalation tools/release-name-web-debug <- web/templates/debug-pod.yaml#1",
				"pss-restricted/privileged tools/release-name-web-debug <- web/templates/debug-pod.yaml#1",
			}, code: ExitFindings},
		{name: "set and release name", args: []string{"--pack", "pss-restricted", "--helm", chart, "--set", "debug.enabled=true", "--release", "ops"},
			want: []string{
				"pss-restricted/allowPrivilegeEscalation /ops-web-debug <- web/templates/debug-pod.yaml#1",
				"pss-restricted/privileged /ops-web-debug <- web/templates/debug-pod.yaml#1",
			}, code: ExitFindings},
		{name: "compliant base", args: []string{"--pack", "pss-restricted", "--kustomize", filepath.Join(kustomizations, "base")}, code: ExitOK},
		{name: "overlay patch makes it privileged", args: []string{"--pack", "pss-restricted", "--kustomize", filepath.Join(kustomizations, "overlays", "prod")},
			want: []string{"pss-restricted/privileged prod/api <- " + baseFile}, code: ExitFindings},
		{name: "chart, kustomization and files together",
			args: []string{"--pack", "pss-restricted", "--helm", chart, "--set", "debug.enabled=true", "--kustomize", filepath.Join(kustomizations, "overlays", "prod"), baseFile},
			want: []string{
				"pss-restricted/allowPrivilegeEscalation /release-name-web-debug <- web/templates/debug-pod.yaml#1",
				"pss-restricted/privileged /release-name-web-debug <- web/templates/debug-pod.yaml#1",
				"pss-restricted/privileged prod/api <- " + baseFile,
			}, code: ExitFindings},
		{name: "remote base refused", args: []string{"--kustomize", filepath.Join(kustomizations, "overlays", "remote")}, code: ExitError},
		{name: "helm options need --helm", args: []string{"--values", debugValues, baseFile}, code: ExitError},
		{name: "nothing to scan", code: ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code := policyFailures(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d", code, tt.code)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
