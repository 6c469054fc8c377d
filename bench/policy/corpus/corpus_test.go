package corpus_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubeward/kubeward/bench/policy/corpus"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/bestpractice"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// smellRules are the kubeward rules each smell must trip (policy/rule).
var smellRules = map[string][]string{
	corpus.SmellPrivileged:  {"pss-restricted/privileged", "best-practice/no-privileged"},
	corpus.SmellRunAsRoot:   {"pss-restricted/runAsNonRoot", "pss-restricted/runAsUser"},
	corpus.SmellHostNetwork: {"pss-restricted/hostNamespaces"},
	// Restricted replaces the baseline hostPathVolumes and
	// capabilities_baseline checks with stricter ones, as upstream does.
	corpus.SmellHostPath:       {"pss-restricted/restrictedVolumes", "hardening/host-path"},
	corpus.SmellCapSysAdmin:    {"pss-restricted/capabilities_restricted"},
	corpus.SmellEscalation:     {"pss-restricted/allowPrivilegeEscalation"},
	corpus.SmellLatestTag:      {"best-practice/image-tag"},
	corpus.SmellNoResources:    {"best-practice/resources"},
	corpus.SmellNoProbes:       {"best-practice/probes"},
	corpus.SmellDefaultNS:      {"best-practice/no-default-namespace"},
	corpus.SmellNodePort:       {"best-practice/no-nodeport"},
	corpus.SmellWritableRootFS: {"hardening/read-only-root-filesystem"},
	corpus.SmellUntrustedImage: {"best-practice/allowed-registries"},
	// A single replica only fails with a configured replica range.
	corpus.SmellSingleReplica: {"best-practice/replica-range"},
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := corpus.Generate(300, 7), corpus.Generate(300, 7)
	other := corpus.Generate(300, 8)
	if len(a) != 300 {
		t.Fatalf("got %d docs, want 300", len(a))
	}
	same := true
	for i := range a {
		ya, err := a[i].YAML()
		if err != nil {
			t.Fatal(err)
		}
		yb, _ := b[i].YAML()
		yo, _ := other[i].YAML()
		if !bytes.Equal(ya, yb) {
			t.Fatalf("doc %d differs between two runs with the same seed", i)
		}
		same = same && bytes.Equal(ya, yo)
	}
	if same {
		t.Fatal("seeds 7 and 8 produced the same corpus")
	}
}

// TestSmellsTripTheirRules checks the corpus's labels against the engine:
// every smell fails its rules and a compliant manifest fails nothing.
func TestSmellsTripTheirRules(t *testing.T) {
	eng, err := packs.Build(packs.Config{BestPractice: bestpractice.Config{
		AllowedRegistries: []string{"registry.example.com"}, MinReplicas: 2, MaxReplicas: 10,
	}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	smells := map[string]int{}
	for _, d := range corpus.Generate(600, 1) {
		kinds[d.Kind]++
		o, err := policy.NewObject(&unstructured.Unstructured{Object: d.Object}, d.Name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := eng.EvaluateObject(context.Background(), o, policy.NewSet(false, o), nil)
		if err != nil {
			t.Fatal(err)
		}
		var failed []string
		for _, r := range res {
			if r.Result == policy.Fail {
				failed = append(failed, r.Policy+"/"+r.Rule)
			}
		}
		var want []string
		for _, s := range d.Smells {
			smells[s]++
			rules, ok := smellRules[s]
			if !ok {
				t.Fatalf("smell %q has no expected rules", s)
			}
			want = append(want, rules...)
		}
		for _, w := range want {
			if !slices.Contains(failed, w) {
				t.Errorf("%s %s with smells %v: %s did not fail (failed: %v)", d.Kind, d.Name, d.Smells, w, failed)
			}
		}
		if len(d.Smells) == 0 && len(failed) > 0 {
			t.Errorf("compliant %s %s fails %v", d.Kind, d.Name, failed)
		}
	}
	for _, k := range []string{"Pod", "Deployment", "StatefulSet", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("no %s generated", k)
		}
	}
	for s := range smellRules {
		if smells[s] == 0 {
			t.Errorf("smell %s never drawn", s)
		}
	}
}
