package pss_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/pod-security-admission/api"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
	"github.com/kubeward/kubeward/internal/policy/pss"
)

// upstreamFixtures returns the directory of the pod-security-admission
// module's generated fixtures (test/testdata/{level}/{version}/{pass,fail}).
func upstreamFixtures(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/pod-security-admission").Output()
	if err != nil {
		t.Fatalf("locating k8s.io/pod-security-admission: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "test", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("upstream fixtures: %v", err)
	}
	return dir
}

func check(t *testing.T, p *pss.Pack, obj *policy.Object) []policy.Result {
	t.Helper()
	res, err := policy.RunChecker(context.Background(), p, obj, policy.NewSet(false, obj), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var fixtureName = regexp.MustCompile(`^([a-z_]+?)\d+\.yaml$`)

// TestUpstreamFixtures runs every fixture upstream generates for every
// level and version: pass fixtures must pass every control, fail fixtures
// must fail the control they are named after, and each control's outcome
// must equal the upstream evaluator's (psa.NewEvaluator) outcome.
func TestUpstreamFixtures(t *testing.T) {
	root := upstreamFixtures(t)
	n := 0
	for _, level := range []string{"baseline", "restricted"} {
		versions, err := os.ReadDir(filepath.Join(root, level))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			pack, err := pss.New(level, v.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"pass", "fail"} {
				dir := filepath.Join(root, level, v.Name(), want)
				files, err := os.ReadDir(dir)
				if err != nil {
					continue
				}
				for _, f := range files {
					n++
					objs, err := manifest.Load(context.Background(), nil, filepath.Join(dir, f.Name()))
					if err != nil || len(objs) != 1 {
						t.Fatalf("%s: %v", f.Name(), err)
					}
					obj := objs[0]
					res := check(t, pack, obj)
					failed := map[string]bool{}
					seen := map[string]bool{}
					var order []string
					for _, r := range res {
						if !seen[r.Control] {
							seen[r.Control] = true
							order = append(order, r.Control)
						}
						if r.Result == policy.Fail {
							failed[r.Control] = true
						}
					}
					up, err := pss.EvaluateUpstream(pack.Level(), obj.Pod.Meta, obj.Pod.Spec)
					if err != nil {
						t.Fatal(err)
					}
					if len(up) != len(order) {
						t.Fatalf("%s/%s/%s: %d controls, upstream evaluator ran %d", level, v.Name(), f.Name(), len(order), len(up))
					}
					for i, u := range up {
						if u.Allowed == failed[order[i]] {
							t.Errorf("%s/%s/%s: control %s failed=%v, upstream allowed=%v", level, v.Name(), f.Name(), order[i], failed[order[i]], u.Allowed)
						}
					}
					switch want {
					case "pass":
						if len(failed) > 0 {
							t.Errorf("%s/%s/pass/%s: failed %v", level, v.Name(), f.Name(), failed)
						}
					case "fail":
						m := fixtureName.FindStringSubmatch(f.Name())
						if m == nil {
							t.Fatalf("unexpected fixture name %s", f.Name())
						}
						named := strings.TrimSuffix(strings.TrimSuffix(m[1], "_baseline"), "_restricted")
						runs := false
						for _, c := range pack.Controls() {
							runs = runs || strings.EqualFold(strings.TrimSuffix(strings.TrimSuffix(c, "_baseline"), "_restricted"), named)
						}
						// A baseline control overridden at this level
						// (hostPathVolumes by restrictedVolumes) fails
						// under its replacement.
						hit := !runs && len(failed) > 0
						for c := range failed {
							if strings.EqualFold(strings.TrimSuffix(strings.TrimSuffix(c, "_baseline"), "_restricted"), named) {
								hit = true
							}
						}
						if !hit {
							t.Errorf("%s/%s/fail/%s: want control %s to fail, failed %v", level, v.Name(), f.Name(), m[1], failed)
						}
					}
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d upstream fixtures found", n)
	}
	t.Logf("%d upstream fixtures checked", n)
}

func loadOne(t *testing.T, doc string) *policy.Object {
	t.Helper()
	objs, err := manifest.Decode(strings.NewReader(doc), "test.yaml")
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v", err)
	}
	return objs[0]
}

func TestFieldPaths(t *testing.T) {
	tests := []struct {
		name, level, doc string
		want             map[string][]string // control -> failing fields
	}{
		{
			name: "deployment privileged second container", level: "baseline",
			doc: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: x:1}
      - {name: b, image: x:1, securityContext: {privileged: true}}
`,
			want: map[string][]string{"privileged": {"spec.template.spec.containers[1].securityContext.privileged"}},
		},
		{
			name: "cronjob host pid and hostpath volume", level: "baseline",
			doc: `apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          hostPID: true
          volumes: [{name: ok, emptyDir: {}}, {name: host, hostPath: {path: /}}]
          containers: [{name: a, image: x:1}]
`,
			want: map[string][]string{
				"hostNamespaces":  {"spec.jobTemplate.spec.template.spec.hostPID"},
				"hostPathVolumes": {"spec.jobTemplate.spec.template.spec.volumes[1].hostPath"},
			},
		},
		{
			name: "pod restricted init container", level: "restricted",
			doc: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  initContainers:
  - {name: init, image: x:1, securityContext: {capabilities: {drop: [ALL]}}}
  containers:
  - {name: a, image: x:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}
`,
			want: map[string][]string{"allowPrivilegeEscalation": {"spec.initContainers[0].securityContext.allowPrivilegeEscalation"}},
		},
		{
			name: "pod-level runAsNonRoot false", level: "restricted",
			doc: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  securityContext: {runAsNonRoot: false, seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: a, image: x:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}
`,
			want: map[string][]string{"runAsNonRoot": {"spec.securityContext.runAsNonRoot"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pss.New(tt.level, "latest")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, r := range check(t, p, loadOne(t, tt.doc)) {
				if r.Result == policy.Fail {
					got[r.Control] = append(got[r.Control], r.Field)
					if r.Remediation == "" || r.Severity == policy.SeverityUnknown {
						t.Errorf("%s: missing remediation or severity", r.Control)
					}
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("failing controls %v, want %v", got, tt.want)
			}
			for c, fields := range tt.want {
				if strings.Join(got[c], ",") != strings.Join(fields, ",") {
					t.Errorf("%s fields %v, want %v", c, got[c], fields)
				}
			}
		})
	}
}

func TestVersions(t *testing.T) {
	tests := []struct {
		level, version string
		wantErr        bool
		has, lacks     string
	}{
		{"restricted", "latest", false, "seccompProfile_restricted", "hostPathVolumes"},
		{"restricted", "v1.18", false, "restrictedVolumes", "seccompProfile_restricted"},
		{"baseline", "v1.30", false, "privileged", "runAsNonRoot"},
		{"privileged", "latest", true, "", ""},
		{"baseline", "1.x", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.version, func(t *testing.T) {
			p, err := pss.New(tt.level, tt.version)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			controls := strings.Join(p.Controls(), ",")
			if !strings.Contains(controls, tt.has) || strings.Contains(","+controls+",", ","+tt.lacks+",") {
				t.Errorf("controls %s: want %s and not %s", controls, tt.has, tt.lacks)
			}
			if p.Level().Level != api.Level(tt.level) {
				t.Errorf("level %s", p.Level().Level)
			}
		})
	}
}
