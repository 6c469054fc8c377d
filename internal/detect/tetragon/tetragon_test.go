package tetragon_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
	"github.com/kubeward/kubeward/internal/shareddata"
)

func decode(t testing.TB, d *event.Decoder, b []byte) *event.Event {
	t.Helper()
	v, err := d.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tetragon.FromValue(v, b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func render(t *testing.T, ev *event.Event, ref string) string {
	t.Helper()
	tbl := tetragon.Fields()
	slots := condition.NewSlots[*event.Event]()
	f, err := condition.CompileFormat(tbl, slots, "%"+ref)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	ctx := condition.NewCtx(slots)
	ctx.Reset(ev)
	return f.Render(ctx)
}

func TestFields(t *testing.T) {
	base := "tetragon/03_chapter/"
	read := func(rel string) []byte { return shareddata.Read(t, base+rel) }
	var d1, d2, d3, d4 event.Decoder
	nsenter := decode(t, &d1, read("03_security_observability_events/01_reaching_the_host_namespace/privileged-pod-nsenter.json"))
	kprobe := decode(t, &d2, read("00_four_golden_signals/process_kprobe.json"))
	connect := decode(t, &d3, read("00_process_lifecycle/nc_process_connect.json"))
	exit := decode(t, &d4, read("00_process_lifecycle/nc_process_exit.json"))
	tests := []struct {
		ev        *event.Event
		ref, want string
	}{
		{nsenter, "tetragon.type", "process_exec"},
		{nsenter, "tetragon.node_name", "minikube"},
		{nsenter, "tetragon.process.binary", "/usr/bin/nsenter"},
		{nsenter, "tetragon.process.arguments", "-t 1 -m -u -n -i -p bash"},
		{nsenter, "tetragon.process.cwd", "/"},
		{nsenter, "tetragon.process.flags", "execve rootcwd clone"},
		{nsenter, "tetragon.process.exec_id", "bWluaWt1YmU6MTQzNTQzNTYzNTQyMzoxOTAwOQ=="},
		{nsenter, "tetragon.process.parent_exec_id", "bWluaWt1YmU6MTIzNjkyODQ2NzQ4NToxNzAyMg=="},
		{nsenter, "tetragon.process.pid", "19009"},
		{nsenter, "tetragon.process.uid", "0"},
		{nsenter, "tetragon.process.auid", "4294967295"},
		{kprobe, "tetragon.process.cap.permitted", "<NA>"},
		{nsenter, "tetragon.parent.binary", "/bin/bash"},
		{nsenter, "tetragon.parent.arguments", "<NA>"},
		{nsenter, "tetragon.parent.cwd", "/"},
		{nsenter, "tetragon.parent.pid", "17022"},
		{nsenter, "tetragon.pod.namespace", "default"},
		{nsenter, "tetragon.pod.name", "privileged-pod"},
		{nsenter, "tetragon.pod.labels[app]", "<NA>"},
		{nsenter, "tetragon.container.id", "docker://85f791fd8dfa740a3b1c177e8f68e8fdb4803a7c8fa0e957a5ec38460ce047ef"},
		{nsenter, "tetragon.container.name", "privileged-pod"},
		{nsenter, "tetragon.container.image", "nginx:latest"},
		{nsenter, "tetragon.container.image.id", "docker-pullable://nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31"},
		{kprobe, "tetragon.function", "__x64_sys_write"},
		{nsenter, "tetragon.function", "<NA>"},
		{kprobe, "tetragon.policy_name", "<NA>"},
		{kprobe, "tetragon.action", "KPROBE_ACTION_POST"},
		{kprobe, "tetragon.file.path", "etc/passwd"},
		{connect, "tetragon.net.source_ip", "10.88.0.6"},
		{connect, "tetragon.net.source_port", "48416"},
		{connect, "tetragon.net.destination_ip", "64.225.45.153"},
		{connect, "tetragon.net.destination_port", "443"},
		{connect, "tetragon.net.protocol", "TCP"},
		{exit, "tetragon.type", "process_exit"},
		{nsenter, "evt.source", "tetragon"},
		{nsenter, "evt.time.iso8601", "2022-01-19T11:16:29.378000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			if got := render(t, tt.ev, tt.ref); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := render(t, nsenter, "tetragon.process.cap.effective"); len(got) < 100 || got[:11] != "(CAP_CHOWN," {
		t.Errorf("cap.effective = %q", got)
	}
	if got := render(t, kprobe, "tetragon.args"); len(got) < 20 || got[:12] != "(etc/passwd," || got[len(got)-5:] != ",627)" {
		t.Errorf("args = %q", got)
	}
}

// TestAllSamplesDecode checks that every real Tetragon sample is recognised.
func TestAllSamplesDecode(t *testing.T) {
	root := shareddata.Path(t, "tetragon")
	n := 0
	err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || filepath.Ext(p) != ".json" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var d event.Decoder
		if e := decode(t, &d, b); e.Kind == "" || e.Time.IsZero() {
			t.Errorf("%s: kind %q time %v", p, e.Kind, e.Time)
		}
		n++
		return nil
	})
	if err != nil || n != 40 {
		t.Fatalf("walked %d samples (want 40): %v", n, err)
	}
}
