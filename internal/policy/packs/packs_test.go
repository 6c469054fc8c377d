package packs_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/bestpractice"
	"github.com/kubeward/kubeward/internal/policy/manifest"
	"github.com/kubeward/kubeward/internal/policy/packs"
	"github.com/kubeward/kubeward/internal/policy/render"
)

var update = flag.Bool("update", false, "rewrite golden files")

func scan(t *testing.T, cfg packs.Config, files ...string) []policy.Result {
	t.Helper()
	eng, err := packs.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join("testdata", f))
	}
	objs, err := manifest.Load(context.Background(), nil, paths...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Evaluate(context.Background(), policy.NewSet(true, objs...))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGolden(t *testing.T) {
	cfg, err := packs.ReadConfig(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    packs.Config
		golden string
	}{
		{"defaults", packs.Config{}, "app-defaults.json"},
		{"config file", cfg, "app-config.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render.JSON(&buf, scan(t, tt.cfg, "app.yaml")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.golden)
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
				t.Errorf("results differ from %s; run go test -update and review the diff", path)
			}
		})
	}
}

// TestDefaultsAreNeutral checks that the parameterised rules stay silent
// until configured, and report once configured.
func TestDefaultsAreNeutral(t *testing.T) {
	count := func(res []policy.Result, rule string) int {
		n := 0
		for _, r := range res {
			if r.Rule == rule {
				n++
			}
		}
		return n
	}
	def := scan(t, packs.Config{}, "app.yaml")
	cfg, err := packs.ReadConfig(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	configured := scan(t, cfg, "app.yaml")
	for _, rule := range []string{"replica-range", "allowed-registries"} {
		if n := count(def, rule); n != 0 {
			t.Errorf("%s: %d results with no configuration, want 0", rule, n)
		}
		if n := count(configured, rule); n == 0 {
			t.Errorf("%s: no results once configured", rule)
		}
	}
	if n := count(configured, "image-pull-policy"); n != 0 {
		t.Errorf("excluded rule image-pull-policy reported %d results", n)
	}
	for _, r := range configured {
		if r.Policy == packs.PSSRestricted {
			t.Fatalf("config selects pss-baseline, got a %s result", r.Policy)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  packs.Config
		want string
	}{
		{"unknown pack", packs.Config{Packs: []string{"nsa"}}, "unknown policy pack"},
		{"bad version", packs.Config{PSSVersion: "v2"}, "pod security version"},
		{"bad probes", packs.Config{BestPractice: bestpractice.Config{Probes: "sometimes"}}, "probes"},
		{"missing policy file", packs.Config{Policies: []string{"testdata/nope.yaml"}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := packs.Build(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMixedPolicyFile(t *testing.T) {
	res := scan(t, packs.Config{Packs: []string{packs.Hardening}, Policies: []string{filepath.Join("testdata", "mixed-policies.yaml")}}, "app.yaml")
	got := map[string]policy.Outcome{}
	for _, r := range res {
		if r.Policy == "max-replicas" || r.Policy == "require-app-label" {
			got[r.Policy+" "+r.Resource.Name] = r.Result
		}
	}
	want := map[string]policy.Outcome{
		"max-replicas web":      policy.Fail,
		"max-replicas db":       policy.Pass,
		"require-app-label web": policy.Pass,
		"require-app-label db":  policy.Pass,
		// The CronJob's pod template has no labels.
		"require-app-label report": policy.Fail,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}
