package k8saudit_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/internal/fieldtest"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
)

// FuzzDecode decodes arbitrary payloads and extracts every field from every
// event: nothing may panic, whatever the shape of the JSON.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"EventList","items":[{"auditID":"a","requestObject":{"spec":{"containers":[{"image":"x:1","securityContext":{"privileged":true}}],"volumes":[{"hostPath":{"path":"/"}}]}}}]}`))
	f.Add([]byte(`{"auditID":"a","requestObject":{"subjects":[{"kind":"User"}],"rules":[{"verbs":"notalist"}]},"requestURI":"%zz?x=%"}`))
	f.Add([]byte(`[{"auditID":1,"user":{"groups":"x"},"requestObject":{"spec":{"containers":{"a":1}}}}]`))
	fields := fieldtest.NewRenderer(f, k8saudit.Fields(k8saudit.Options{ClusterName: "c"}), "[/x]", nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var d event.Decoder
		events, _, err := k8saudit.Decode(&d, data)
		if err != nil {
			return
		}
		for _, e := range events {
			fields.Render(e)
		}
	})
}
