package kyverno_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/kyverno"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

// FuzzLoad loads arbitrary Kyverno documents and evaluates what loads on
// real objects: refusals are fine, panics are not.
func FuzzLoad(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "policies.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		f.Add(doc)
	}
	objData, err := os.ReadFile(filepath.Join("testdata", "objects.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	objs, err := manifest.Decode(bytes.NewReader(objData), "objects.yaml")
	if err != nil {
		f.Fatal(err)
	}
	set := policy.NewSet(true, objs...)
	f.Fuzz(func(t *testing.T, doc []byte) {
		ps, err := kyverno.Load(bytes.NewReader(doc), "fuzz.yaml")
		if err != nil {
			return
		}
		for _, p := range ps {
			for _, o := range objs {
				if _, err := policy.RunChecker(context.Background(), p, o, set, nil); err != nil {
					t.Fatalf("evaluation error on a loaded policy: %v", err)
				}
			}
		}
	})
}
