package cli

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

// attachAuditEvent is a `kubectl attach` as the apiserver audits it: the
// upstream rule "Attach/Exec Pod" fires, and its output names neither the
// verb nor the user agent.
const attachAuditEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
"auditID":"6c0b5a4e-0753-4a52-9d2e-0a1b2c3d4e5f","stage":"ResponseStarted",
"requestURI":"/api/v1/namespaces/default/pods/web-0/attach?container=web&stdin=true&stdout=true&tty=true",
"verb":"get","user":{"username":"kubernetes-admin","groups":["system:masters","system:authenticated"]},
"sourceIPs":["10.0.0.12"],"userAgent":"kubectl/v1.37.2 (linux/amd64) kubernetes/5a1b2c3",
"objectRef":{"resource":"pods","apiVersion":"v1","namespace":"default","name":"web-0","subresource":"attach"},
"responseStatus":{"metadata":{},"code":101},
"requestReceivedTimestamp":"2026-11-23T10:00:00.000000Z","stageTimestamp":"2026-11-23T10:00:00.012345Z"}
`

// replayOutputFields runs `kubeward audit replay` of the attach event
// with the upstream k8s_audit rules and extra args, and returns the
// output_fields of the one detection.
func replayOutputFields(t *testing.T, rulesFile, events string, extra ...string) map[string]any {
	t.Helper()
	args := append([]string{"--log-level", "error", "audit", "replay", "--rules", rulesFile, "-o", "json"}, extra...)
	out, errOut, code := runCLI(t, append(args, events)...)
	if code != ExitOK {
		t.Fatalf("kubeward %s exited %d: %s", strings.Join(args, " "), code, errOut)
	}
	lines := nonEmpty(out)
	if len(lines) != 1 {
		t.Fatalf("kubeward %s printed %d detections, want one:\n%s", strings.Join(args, " "), len(lines), out)
	}
	var d struct {
		Rule         string         `json:"rule"`
		OutputFields map[string]any `json:"output_fields"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil {
		t.Fatalf("detection is not Falco JSON: %v\n%s", err, lines[0])
	}
	if d.Rule != "Attach/Exec Pod" {
		t.Fatalf("rule %q fired, want Attach/Exec Pod", d.Rule)
	}
	return d.OutputFields
}

// TestAuditReplayDetectExtraField: --detect-extra-field adds exactly the
// named fields, with the event's values, to the output_fields of the
// JSON output; a bad value exits 2 saying what is wrong.
func TestAuditReplayDetectExtraField(t *testing.T) {
	rulesFile := filepath.Join(vulndbtest.DataDir(t), "falco", "k8s_audit_rules.yaml")
	events := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(events, []byte(attachAuditEvent), 0o600); err != nil {
		t.Fatal(err)
	}
	base := replayOutputFields(t, rulesFile, events)
	if _, ok := base["ka.sourceips"]; !ok {
		t.Fatalf("the default extra field ka.sourceips is missing: %v", base)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		added map[string]any
	}{
		{"verb", []string{"--detect-extra-field", "k8s_audit:ka.verb"}, map[string]any{"ka.verb": "get"}},
		{"written as in a rule output", []string{"--detect-extra-field", "k8s_audit:%ka.verb"}, map[string]any{"ka.verb": "get"}},
		{"repeated", []string{"--detect-extra-field", "k8s_audit:ka.verb", "--detect-extra-field", "k8s_audit:ka.useragent"},
			map[string]any{"ka.verb": "get", "ka.useragent": "kubectl/v1.37.2 (linux/amd64) kubernetes/5a1b2c3"}},
		{"a default again", []string{"--detect-extra-field", "k8s_audit:ka.sourceips"}, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := replayOutputFields(t, rulesFile, events, tc.flags...)
			want := maps.Clone(base)
			maps.Copy(want, tc.added)
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("output_fields with %v:\n%s\nwant the defaults plus %v:\n%s", tc.flags, gotJSON, slices.Sorted(maps.Keys(tc.added)), wantJSON)
			}
		})
	}

	for _, tc := range []struct {
		value string
		want  string
	}{
		{"ka.verb", `want SOURCE:FIELD`},
		{"k8s_audit:", `want SOURCE:FIELD`},
		{"k8s_audit:ka.nosuch", `unknown field "ka.nosuch"`},
		{"kubernetes:ka.verb", `source "kubernetes", which is not configured`},
		{"k8s_audit:ka.verb ka.uri", `not a single field reference`},
	} {
		t.Run("bad "+tc.value, func(t *testing.T) {
			out, errOut, code := runCLI(t, "audit", "replay", "--rules", rulesFile, "--detect-extra-field", tc.value, events)
			if code != ExitError || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "extra output field") {
				t.Errorf("--detect-extra-field %q: exit %d, stderr %q, stdout %q; want exit %d and an error mentioning %q", tc.value, code, errOut, out, ExitError, tc.want)
			}
			if out != "" {
				t.Errorf("--detect-extra-field %q printed detections despite the error:\n%s", tc.value, out)
			}
		})
	}
}
