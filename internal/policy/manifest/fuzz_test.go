package manifest_test

import (
	"bytes"
	"testing"

	"github.com/kubeward/kubeward/internal/policy/manifest"
)

// FuzzDecode feeds arbitrary bytes to the manifest decoder: it must return
// objects or an error, never panic, and every object it returns must be
// identified.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n"))
	f.Add([]byte("---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}]\n"))
	f.Add([]byte(`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"volumes":[{"name":"v"}]}}}}}}`))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := manifest.Decode(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Ref.Kind == "" || o.Ref.APIVersion == "" {
				t.Fatalf("object without kind or apiVersion: %+v", o.Ref)
			}
			if o.Pod != nil && (o.Pod.Spec == nil || o.Pod.Meta == nil) {
				t.Fatal("pod template without spec or metadata")
			}
		}
	})
}
