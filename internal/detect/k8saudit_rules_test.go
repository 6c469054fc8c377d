package detect_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
	"github.com/kubeward/kubeward/internal/shareddata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// upstreamRules is the unchanged upstream Falco k8saudit ruleset.
func upstreamRules(tb testing.TB) rules.File {
	tb.Helper()
	return rules.File{Name: "k8s_audit_rules.yaml", Data: shareddata.Read(tb, "falco/k8s_audit_rules.yaml")}
}

func newEngine(tb testing.TB, files ...rules.File) *detect.Engine {
	tb.Helper()
	e, err := detect.New(detect.Config{Rules: files, Hostname: "test-host"})
	if err != nil {
		tb.Fatalf("detect.New: %v", err)
	}
	return e
}

// evaluateFile replays one file of events (one event, an EventList, a
// JSON array or an audit log in JSON lines) and returns the detections.
func evaluateFile(tb testing.TB, e *detect.Engine, path, source string) []detect.Detection {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	dets, st, err := detect.Replay(context.Background(), e, f, source)
	if err != nil || len(st.Rejected) > 0 || st.Events == 0 {
		tb.Fatalf("%s: %d events, rejected %v, error %v", path, st.Events, st.Rejected, err)
	}
	return dets
}

// readWant reads a .want file: one "Priority<TAB>Rule" line per expected
// detection, nothing for an event that must raise none.
func readWant(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("every event file needs its expectations in %s: %v", path, err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			want = append(want, l)
		}
	}
	sort.Strings(want)
	return want
}

func got(dets []detect.Detection) []string {
	var out []string
	for _, d := range dets {
		out = append(out, d.Priority.String()+"\t"+d.Rule)
	}
	sort.Strings(out)
	return out
}

// checkGolden compares the Falco JSON of the detections with a golden file.
func checkGolden(t *testing.T, path string, dets []detect.Detection) {
	t.Helper()
	var buf bytes.Buffer
	for _, d := range dets {
		b, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("detections differ from %s:\ngot:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
}

// TestUpstreamK8sAuditRules evaluates the unchanged upstream ruleset on
// every event file in testdata/audit and checks the rules raised, their
// priorities and outputs. The *.json files are hand-built
// RequestResponse-level events; audit logs written by a real apiserver
// (--audit-log-path, JSON lines) can be added as NAME.log with a NAME.want
// next to them, see testdata/audit/README.md.
func TestUpstreamK8sAuditRules(t *testing.T) {
	e := newEngine(t, upstreamRules(t))
	if n := e.RuleCount(k8saudit.SourceName); n != 48 {
		t.Fatalf("upstream ruleset: %d k8s_audit rules active, want 48", n)
	}
	files, err := filepath.Glob("testdata/audit/*.json")
	logs, _ := filepath.Glob("testdata/audit/*.log")
	files = append(files, logs...)
	if err != nil || len(files) == 0 {
		t.Fatalf("no audit events in testdata/audit: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		t.Run(name, func(t *testing.T) {
			dets := evaluateFile(t, e, f, k8saudit.SourceName)
			base := strings.TrimSuffix(f, filepath.Ext(f))
			want := readWant(t, base+".want")
			if g := got(dets); fmt.Sprint(g) != fmt.Sprint(want) {
				t.Errorf("rules raised:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
			}
			for _, d := range dets {
				if d.Source != k8saudit.SourceName || d.Hostname != "test-host" || d.Time.IsZero() || len(d.Event) == 0 {
					t.Errorf("rule %q: incomplete detection %+v", d.Rule, d)
				}
				if strings.Contains(d.Output, "%") {
					t.Errorf("rule %q: output has an unsubstituted field: %s", d.Rule, d.Output)
				}
			}
			checkGolden(t, base+".golden.jsonl", dets)
		})
	}
}

// TestUpstreamOutputs pins the exact output of the key rules, including
// Falco's <NA> for absent fields and (a,b) for list fields.
func TestUpstreamOutputs(t *testing.T) {
	e := newEngine(t, upstreamRules(t))
	tests := []struct {
		file, rule, output string
	}{
		{"privileged_pod_create", "Create Privileged Pod", "Pod started with privileged container (user=alice pod=priv resource=pods ns=default images=(nginx:1.27) init_images=<NA> ephemeral_images=<NA>)"},
		{"privileged_init_container", "Create Privileged Pod", "Pod started with privileged container (user=kubernetes-admin pod=debugger resource=pods ns=default images=(registry.example.com/team/app@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31) init_images=(busybox:1.36) ephemeral_images=<NA>)"},
		{"exec_pod", "Attach/Exec Pod", "Attach/Exec to pod (user=kubernetes-admin pod=web-0 resource=pods ns=default action=exec command=sh)"},
		{"attach_pod", "Attach/Exec Pod", "Attach/Exec to pod (user=kubernetes-admin pod=web-0 resource=pods ns=default action=attach command=<NA>)"},
		{"clusterrolebinding_cluster_admin", "Attach to cluster-admin Role", `Cluster Role Binding to cluster-admin role (user=kubernetes-admin subject=({"kind":"ServiceAccount","name":"backdoor","namespace":"default"}))`},
		{"secret_get_unexpected_user", "K8s Secret Get Successfully", `K8s Secret Get Successfully (user=mallory secret=db-password ns=payments resource=secrets resp=200 decision=allow reason=RBAC: allowed by RoleBinding "contractors-read/payments" of ClusterRole "view-secrets" to Group "contractors")`},
		{"nodeport_service", "Create NodePort Service", `NodePort Service Created (user=kubernetes-admin service=debug-np resource=services ns=default ports=([{"protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}]))`},
		{"configmap_credentials", "Create/Modify Configmap With Private Credentials", "K8s configmap with private credential (user=kubernetes-admin verb=create resource=configmaps configmap=app-config)"},
		{"anonymous_allowed", "Anonymous Request Allowed", `Request by anonymous user allowed (user=system:anonymous verb=list uri=/api/v1/namespaces/kube-system/configmaps reason=RBAC: allowed by ClusterRoleBinding "anonymous-view" of ClusterRole "view" to User "system:anonymous"))`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dets := evaluateFile(t, e, filepath.Join("testdata", "audit", tt.file+".json"), detect.AutoSource)
			for _, d := range dets {
				if d.Rule == tt.rule {
					if d.Output != tt.output {
						t.Errorf("output:\n got %s\nwant %s", d.Output, tt.output)
					}
					return
				}
			}
			t.Errorf("rule %q not raised; got %v", tt.rule, got(dets))
		})
	}
}

// TestTetragonRules runs kubeward's Tetragon rules over the real Tetragon
// export events in the shared data.
func TestTetragonRules(t *testing.T) {
	e := newEngine(t, tetragon.DefaultRules())
	base := "tetragon/03_chapter/"
	tests := []struct {
		file string
		want []string
	}{
		{"03_security_observability_events/01_reaching_the_host_namespace/privileged-pod-nsenter.json", []string{"Critical\tTetragon Nsenter Into Host Namespaces"}},
		{"03_security_observability_events/01_reaching_the_host_namespace/host-namespace-bash.json", []string{"Critical\tTetragon Shell In Host Namespace From Pod"}},
		{"03_security_observability_events/02_persistance/merlin-agent-insert-pod-spec.json", []string{"Critical\tTetragon Static Pod Manifest Access"}},
		{"03_security_observability_events/02_persistance/merlin-agent-go-connect.json", []string{"Critical\tTetragon Outbound Connection From Temporary Directory Binary"}},
		{"03_security_observability_events/02_persistance/merlin-agent-job-connect.json", []string{"Critical\tTetragon Outbound Connection From Temporary Directory Binary"}},
		{"00_process_lifecycle/nc_process_connect.json", []string{"Warning\tTetragon Netcat Outbound Connection"}},
		{"00_four_golden_signals/process_kprobe.json", []string{"Warning\tTetragon Sensitive File Access"}},
		{"00_process_lifecycle/cat_process_kprobe.json", []string{"Warning\tTetragon Sensitive File Access"}},
		{"03_security_observability_events/03_post_exploitation_techniques/merlin-agent-scp.json", []string{"Error\tTetragon Data Exfiltration With Copy Tool"}},
		// Benign: ordinary process lifecycle.
		{"03_security_observability_events/01_reaching_the_host_namespace/nginx-execution.json", nil},
		{"03_security_observability_events/01_reaching_the_host_namespace/privileged-pod-bash.json", nil},
		{"00_four_golden_signals/process_exec.json", nil},
		{"00_four_golden_signals/process_connect.json", nil},
		{"00_process_lifecycle/lifecycle_sh_process_exit.json", nil},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			dets := evaluateFile(t, e, shareddata.Path(t, base+tt.file), detect.AutoSource)
			sort.Strings(tt.want)
			if g := got(dets); fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("rules raised %q, want %q", g, tt.want)
			}
			for _, d := range dets {
				if strings.Contains(d.Output, "<NA>") && d.Rule != "Tetragon Static Pod Manifest Access" {
					t.Errorf("rule %q output has absent fields: %s", d.Rule, d.Output)
				}
			}
		})
	}
}

// TestConcurrentEvaluate evaluates from many goroutines at once (run with
// -race): the engine shares compiled rules and pools its contexts.
func TestConcurrentEvaluate(t *testing.T) {
	e := newEngine(t, upstreamRules(t))
	want := len(evaluateFile(t, e, "testdata/audit/privileged_pod_create.json", detect.AutoSource))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if n := len(evaluateFile(t, e, "testdata/audit/privileged_pod_create.json", detect.AutoSource)); n != want {
					errs <- fmt.Sprintf("got %d detections, want %d", n, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
