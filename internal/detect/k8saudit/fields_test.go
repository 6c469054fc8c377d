package k8saudit_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
)

func load(t *testing.T, d *event.Decoder, name string) *event.Event {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	events, rejected, err := k8saudit.Decode(d, b)
	if err != nil || len(rejected) > 0 || len(events) != 1 {
		t.Fatalf("Decode %s: %v %v %d", name, err, rejected, len(events))
	}
	return events[0]
}

// render extracts one field reference as Falco would print it.
func render(t *testing.T, tbl *condition.Table[*event.Event], ev *event.Event, ref string) string {
	t.Helper()
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
	tbl := k8saudit.Fields(k8saudit.Options{ClusterName: "prod-eu"})
	var d1, d2 event.Decoder
	pod := load(t, &d1, "pod_create.json")
	bind := load(t, &d2, "binding_create.json")
	tests := []struct {
		ev   *event.Event
		ref  string
		want string
	}{
		{pod, "ka.auditid", "0c5b7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e"},
		{pod, "ka.stage", "ResponseComplete"},
		{pod, "ka.auth.decision", "allow"},
		{pod, "ka.auth.reason", "RBAC: allowed"},
		{pod, "ka.auth.openshift.decision", "allow"},
		{pod, "ka.auth.openshift.username", "alice@corp"},
		{pod, "ka.validations.admission.policy.failure", `[{"message":"denied"}]`},
		{pod, "ka.security.pod.violations", `privileged (container "app" must not set securityContext.privileged=true)`},
		{pod, "ka.user.name", "alice"},
		{pod, "ka.user.groups", "(dev,system:authenticated)"},
		{pod, "ka.impuser.name", "bob"},
		{bind, "ka.impuser.name", "<NA>"},
		{pod, "ka.verb", "create"},
		{pod, "ka.uri", "/api/v1/namespaces/apps/pods?fieldManager=kubectl&dryRun=All"},
		{pod, "ka.uri.param[dryRun]", "All"},
		{pod, "ka.uri.param[nope]", "<NA>"},
		{pod, "ka.target.name", "web"},
		{pod, "ka.target.namespace", "apps"},
		{bind, "ka.target.namespace", "<NA>"},
		{pod, "ka.target.resource", "pods"},
		{pod, "ka.target.subresource", "<NA>"},
		{pod, "ka.target.pod.name", "web"},
		{bind, "ka.target.pod.name", "<NA>"},
		{bind, "ka.req.binding.subjects", `({"kind":"User","name":"eve"},{"kind":"ServiceAccount","name":"sa","namespace":"ns1"},{"kind":"Group","name":"devs"})`},
		{bind, "ka.req.binding.subjects.user_names", "(eve)"},
		{bind, "ka.req.binding.subjects.serviceaccount_names", "(sa)"},
		{bind, "ka.req.binding.subjects.serviceaccount_ns_names", "(ns1:sa)"},
		{bind, "ka.req.binding.subjects.group_names", "(devs)"},
		{bind, "ka.req.binding.role", "cluster-admin"},
		{bind, "ka.req.binding.subject.has_name[x]", "true"},
		{bind, "ka.req.configmap.name", "crb"},
		{bind, "ka.req.configmap.obj", `{"k":"v"}`},
		{pod, "ka.req.pod.containers.image", "(quay.io/org/app:1.2@sha256:abc,busybox)"},
		{pod, "ka.req.pod.containers.image[1]", "(busybox)"},
		{pod, "ka.req.pod.containers.image[5]", "<NA>"},
		{pod, "ka.req.container.image", "quay.io/org/app:1.2@sha256:abc"},
		{pod, "ka.req.pod.containers.image.repository", "(quay.io/org/app,busybox)"},
		{pod, "ka.req.container.image.repository", "quay.io/org/app"},
		{pod, "ka.req.pod.host_ipc", "<NA>"},
		{pod, "ka.req.pod.host_network", "true"},
		{pod, "ka.req.container.host_network", "true"},
		{pod, "ka.req.pod.host_pid", "false"},
		{pod, "ka.req.pod.containers.host_port", "(80,9090)"},
		{pod, "ka.req.pod.containers.privileged", "(true)"},
		{pod, "ka.req.container.privileged", "true"},
		{bind, "ka.req.container.privileged", "<NA>"},
		{pod, "ka.req.pod.containers.allow_privilege_escalation", "(true)"},
		{pod, "ka.req.pod.containers.read_only_fs", "(false)"},
		{pod, "ka.req.pod.run_as_user", "1000"},
		{pod, "ka.req.pod.containers.run_as_user", "(0)"},
		{pod, "ka.req.pod.containers.eff_run_as_user", "(0,1000)"},
		{pod, "ka.req.pod.run_as_group", "<NA>"},
		{pod, "ka.req.pod.containers.run_as_group", "(10)"},
		{pod, "ka.req.pod.containers.eff_run_as_group", "(0,10)"},
		{pod, "ka.req.pod.containers.proc_mount", "(Unmasked)"},
		{bind, "ka.req.role.rules", `({"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},{"nonResourceURLs":["/metrics"],"verbs":["get"]})`},
		{bind, "ka.req.role.rules.apiGroups", "()"},
		{bind, "ka.req.role.rules.nonResourceURLs", "(/metrics)"},
		{bind, "ka.req.role.rules.verbs", "(get,create,get)"},
		{bind, "ka.req.role.rules.verbs[1]", "(get)"},
		{bind, "ka.req.role.rules.resources", "(pods,pods/exec)"},
		{pod, "ka.req.pod.fs_group", "2000"},
		{pod, "ka.req.pod.supplemental_groups", "(3000,3001)"},
		{pod, "ka.req.pod.containers.add_capabilities", `(["NET_ADMIN","SYS_TIME"])`},
		{pod, "ka.req.service.type", "<NA>"},
		{pod, "ka.req.service.ports", "<NA>"},
		{pod, "ka.req.pod.volumes.hostpath", "(/var/run/docker.sock)"},
		{pod, "ka.req.volume.hostpath[/var/run/docker.sock]", "true"},
		{pod, "ka.req.volume.hostpath[/var/run*]", "true"},
		{pod, "ka.req.volume.hostpath[/etc]", "false"},
		{pod, "ka.req.pod.volumes.flexvolume_driver", "(example/lvm)"},
		{pod, "ka.req.pod.volumes.volume_type", "(hostPath,flexVolume,configMap)"},
		{pod, "ka.resp.name", "web"},
		{pod, "ka.response.code", "201"},
		{pod, "ka.response.reason", "<NA>"},
		{bind, "ka.response.reason", "Forbidden"},
		{pod, "ka.useragent", "kubectl/v1.37.2"},
		{pod, "ka.sourceips", "(10.0.0.12,192.168.1.5)"},
		{pod, "ka.sourceips[1]", "(192.168.1.5)"},
		{pod, "ka.cluster.name", "prod-eu"},
		{pod, "ka.req.pod.initContainers.name", "(init)"},
		{pod, "ka.req.pod.initContainers.image", "(alpine:3.20)"},
		{pod, "ka.req.pod.initContainers.image.repository", "(alpine)"},
		{pod, "ka.req.pod.initContainers.command", "<NA>"},
		{pod, "ka.req.pod.initContainers.args", "<NA>"},
		{pod, "ka.req.pod.initContainers.privileged", "(false)"},
		{pod, "ka.req.pod.initContainers.allow_privilege_escalation", "<NA>"},
		{pod, "ka.req.pod.initContainers.read_only_fs", "<NA>"},
		{pod, "ka.req.pod.initContainers.run_as_user", "<NA>"},
		{pod, "ka.req.pod.initContainers.eff_run_as_user", "(1000)"},
		{pod, "ka.req.pod.initContainers.run_as_group", "<NA>"},
		{pod, "ka.req.pod.initContainers.eff_run_as_group", "(0)"},
		{pod, "ka.req.pod.initContainers.proc_mount", "<NA>"},
		{pod, "ka.req.pod.initContainers.add_capabilities", "<NA>"},
		{pod, "ka.req.pod.initContainers.host_port", "<NA>"},
		{pod, "ka.req.pod.containers.name", "(app,sidecar)"},
		{pod, "ka.req.pod.containers.command", `(["/app"])`},
		{pod, "ka.req.pod.containers.args", `(["--v=2"])`},
		{pod, "ka.req.pod.ephemeralContainers.name", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.image", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.image.repository", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.command", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.args", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.privileged", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.allow_privilege_escalation", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.read_only_fs", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.run_as_user", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.eff_run_as_user", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.run_as_group", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.eff_run_as_group", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.proc_mount", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.add_capabilities", "<NA>"},
		{pod, "ka.req.pod.ephemeralContainers.host_port", "<NA>"},
		{pod, "jevt.value[/user/username]", "alice"},
		{pod, "json.value[/requestObject/spec/containers/0/ports/0]", `{"containerPort":8080,"hostPort":80}`},
		{pod, "jevt.value[/annotations/authorization.k8s.io~1decision]", "allow"},
		{pod, "jevt.value[/nope]", "<NA>"},
		{pod, "jevt.rawtime", "1795428000250000000"},
		{pod, "json.rawtime", "1795428000250000000"},
		{pod, "evt.time", "10:00:00.250000000"},
		{pod, "evt.time.iso8601", "2026-11-23T10:00:00.250000000Z"},
		{pod, "evt.rawtime", "1795428000250000000"},
		{pod, "evt.source", "k8s_audit"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		name, _, _ := strings.Cut(tt.ref, "[")
		covered[name] = true
		t.Run(tt.ref, func(t *testing.T) {
			if got := render(t, tbl, tt.ev, tt.ref); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, f := range tbl.All() {
		if !covered[f.Name] && !strings.HasSuffix(f.Name, ".obj") {
			t.Errorf("field %s has no test case", f.Name)
		}
	}
}

func TestDecode(t *testing.T) {
	ev := `{"auditID":"a","stage":"ResponseComplete","verb":"get"}`
	big := `{"auditID":"b","requestObject":{"data":"` + strings.Repeat("x", k8saudit.MaxEventSize) + `"}}`
	tests := []struct {
		name     string
		body     string
		events   int
		rejected int
		err      string
	}{
		{"single event", ev, 1, 0, ""},
		{"event list", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + ev + `,` + ev + `]}`, 2, 0, ""},
		{"array", `[` + ev + `,{"not":"audit"}]`, 1, 1, ""},
		{"too large in batch", `{"kind":"EventList","items":[` + ev + `,` + big + `]}`, 1, 1, ""},
		{"too large single", big, 0, 1, ""},
		{"not audit", `{"kind":"Event"}`, 0, 1, ""},
		{"empty list", `{"kind":"EventList","items":[]}`, 0, 0, ""},
		{"invalid json", `{"auditID":`, 0, 0, "invalid JSON"},
		{"scalar", `42`, 0, 0, "want an audit Event"},
		{"items not array", `{"kind":"EventList","items":{}}`, 0, 0, "not an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d event.Decoder
			events, rejected, err := k8saudit.Decode(&d, []byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(events) != tt.events || len(rejected) != tt.rejected {
				t.Fatalf("got %d events, %v rejected, err %v", len(events), rejected, err)
			}
			for _, e := range events {
				if e.Source != k8saudit.SourceName || len(e.Raw()) == 0 {
					t.Errorf("event %+v", e)
				}
			}
		})
	}
}
