package eventstore_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
)

// FuzzDecode: Decode never panics, and what it accepts decodes again from
// its Raw form to the same event ID.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"rule":"R","priority":"Warning","time":"2026-03-01T12:00:00Z","output_fields":{"k8s.ns.name":"a"}}`))
	f.Add([]byte(`{"rule":"R","priority":"x","time":"2026-03-01T12:00:00Z"}`))
	f.Add([]byte(`{"output_fields":null,"tags":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := eventstore.Decode(b)
		if err != nil {
			return
		}
		again, err := eventstore.Decode(e.Raw)
		if err != nil {
			t.Fatalf("Raw %s of an accepted alert rejected: %v", e.Raw, err)
		}
		if again.ID != e.ID {
			t.Fatalf("ID changed from %s to %s when decoding Raw %s", e.ID, again.ID, e.Raw)
		}
	})
}
