package celpolicy_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/celpolicy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

// FuzzLoad loads and compiles arbitrary policy documents and evaluates
// what compiles on real objects: errors are fine, panics are not, and
// every result names a known outcome.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"vap-replicas.yaml", "celpolicy-labels.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: policy.kubeward.io/v1alpha1\nkind: CELPolicy\nmetadata: {name: x}\nspec: {validations: [{expression: \"object.spec.replicas / 0 == 1\"}]}\n"))
	data, err := os.ReadFile(filepath.Join("testdata", "objects.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	objs, err := manifest.Decode(bytes.NewReader(data), "objects.yaml")
	if err != nil {
		f.Fatal(err)
	}
	set := policy.NewSet(true, objs...)
	f.Fuzz(func(t *testing.T, doc []byte) {
		b, err := celpolicy.Load(bytes.NewReader(doc), "fuzz.yaml")
		if err != nil {
			return
		}
		compiled, err := celpolicy.Compile(b)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, c := range compiled {
			for _, o := range objs {
				res, err := policy.RunChecker(context.Background(), c, o, set, nil)
				if err != nil {
					continue
				}
				for _, r := range res {
					switch r.Result {
					case policy.Pass, policy.Fail, policy.Skip:
					default:
						t.Fatalf("result %q", r.Result)
					}
				}
			}
		}
	})
}
