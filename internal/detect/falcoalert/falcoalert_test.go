package falcoalert_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/falcoalert"
)

const alert = `{"hostname":"node-1","output":"10:00:00.000000000: Critical Terminal shell in container (user=root)","output_fields":{"k8s.ns.name":"prod","proc.pid":4242,"container.image.repository":null},"priority":"Critical","rule":"Terminal shell in container","source":"syscall","tags":["container","shell","mitre_execution"],"time":"2026-11-23T10:00:00.123456789Z"}`

func TestFields(t *testing.T) {
	var d event.Decoder
	v, err := d.Parse([]byte(alert))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := falcoalert.FromValue(v, []byte(alert))
	if err != nil {
		t.Fatal(err)
	}
	tbl := falcoalert.Fields()
	tests := []struct{ ref, want string }{
		{"falco.rule", "Terminal shell in container"},
		{"falco.priority", "Critical"},
		{"falco.source", "syscall"},
		{"falco.output", "10:00:00.000000000: Critical Terminal shell in container (user=root)"},
		{"falco.hostname", "node-1"},
		{"falco.time", "2026-11-23T10:00:00.123456789Z"},
		{"falco.tags", "(container,shell,mitre_execution)"},
		{"falco.output_fields[k8s.ns.name]", "prod"},
		{"falco.output_fields[proc.pid]", "4242"},
		{"falco.output_fields[container.image.repository]", "<NA>"},
		{"falco.output_fields[nope]", "<NA>"},
		{"evt.rawtime", "1795428000123456789"},
	}
	for _, tt := range tests {
		slots := condition.NewSlots[*event.Event]()
		f, err := condition.CompileFormat(tbl, slots, "%"+tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		ctx := condition.NewCtx(slots)
		ctx.Reset(ev)
		if got := f.Render(ctx); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.ref, got, tt.want)
		}
	}
	for _, bad := range []string{`{"rule":"x"}`, `{"rule":"x","priority":"y"}`, `[]`, `{"rule":1,"priority":"y","output":"z"}`} {
		v, err := d.Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := falcoalert.FromValue(v, nil); err == nil {
			t.Errorf("%s accepted as an alert", bad)
		}
	}
}
