package kustomization_test

import (
	"context"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubeward/kubeward/internal/policy/kustomization"
)

// FuzzRenderFS builds a fuzzed kustomization over a fuzzed resource file
// on an in-memory file system: it must fail with an error, never panic
// and never reach the network.
func FuzzRenderFS(f *testing.F) {
	f.Add([]byte("resources: [r.yaml]\nnamespace: x\n"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"))
	f.Add([]byte("resources: [github.com/org/repo]\n"), []byte(""))
	f.Add([]byte("resources: [r.yaml]\npatches: [{patch: '[{\"op\":\"add\",\"path\":\"/x\",\"value\":1}]', target: {kind: Pod}}]\n"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"))
	f.Add([]byte("buildMetadata: [originAnnotations]\nresources: [r.yaml]\n"), []byte("kind: ConfigMap\n"))
	f.Fuzz(func(t *testing.T, kust, resource []byte) {
		fSys := filesys.MakeFsInMemory()
		if err := fSys.WriteFile("/app/kustomization.yaml", kust); err != nil {
			t.Fatal(err)
		}
		if err := fSys.WriteFile("/app/r.yaml", resource); err != nil {
			t.Fatal(err)
		}
		objs, err := kustomization.RenderFS(context.Background(), fSys, "/app")
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Source == "" {
				t.Fatalf("object %s without source", o.Ref.Name)
			}
		}
	})
}
