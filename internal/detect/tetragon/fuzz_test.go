package tetragon_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/internal/fieldtest"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

// FuzzDecode recognises arbitrary JSON as Tetragon events and extracts
// every field: nothing may panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"process_kprobe":{"process":{"binary":"/bin/cat","pid":"x","pod":{"pod_labels":{"app":"a"}}},"function_name":"fd_install","args":[{"file_arg":{"path":"/etc/shadow"}},{"int_arg":3},"x",null]},"time":"2022-01-19T11:16:29Z"}`))
	f.Add([]byte(`{"process_exit":{"process":{"binary":1},"status":"nope","signal":9},"node_name":null}`))
	f.Add([]byte(`{"process_tracepoint":{"subsys":"syscalls","event":"sys_enter","args":{}}}`))
	fields := fieldtest.NewRenderer(f, tetragon.Fields(), "[/app]", nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var d event.Decoder
		v, err := d.Parse(data)
		if err != nil {
			return
		}
		e, err := tetragon.FromValue(v, data)
		if err != nil {
			return
		}
		fields.Render(e)
	})
}
