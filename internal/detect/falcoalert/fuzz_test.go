package falcoalert_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/falcoalert"
	"github.com/kubeward/kubeward/internal/detect/internal/fieldtest"
)

// FuzzFromValue recognises arbitrary JSON as Falco alerts and extracts
// every field: nothing may panic.
func FuzzFromValue(f *testing.F) {
	f.Add([]byte(alert))
	f.Add([]byte(`{"rule":"r","priority":"x","output_fields":[1,{"k8s.ns.name":null}],"tags":"notalist","time":7}`))
	f.Add([]byte(`{"rule":"r","priority":"Critical","output":null,"output_fields":{"k8s.ns.name":{"a":[1]}},"time":"2026-13-45T99:00:00Z"}`))
	fields := fieldtest.NewRenderer(f, falcoalert.Fields(), "[/x]", map[string]string{"falco.output_fields": "[k8s.ns.name]"})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d event.Decoder
		v, err := d.Parse(data)
		if err != nil {
			return
		}
		e, err := falcoalert.FromValue(v, data)
		if err != nil {
			return
		}
		if e.Source != falcoalert.SourceName {
			t.Fatalf("source %q", e.Source)
		}
		fields.Render(e)
	})
}
