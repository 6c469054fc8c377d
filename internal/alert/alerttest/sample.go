package alerttest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

var update = flag.Bool("update", false, "rewrite golden files with the output of the tests")

// Base is the fixed time the sample alerts start at.
var Base = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// SampleAlerts returns three normalized alerts of one namespace: two
// firing (a critical detection and a high violation) and one finding
// resolved at Base+10m.
func SampleAlerts() []*alert.Alert {
	as := []alert.Alert{
		{
			Labels:       alert.LabelSet{"alertname": "TerminalShellInContainer", "namespace": "payments", "pod": "api-7d9f", "rule": "Terminal shell in container"},
			Annotations:  map[string]string{"summary": "A shell was spawned in payments/api-7d9f", "description": "bash started by kubectl exec as root"},
			Severity:     alert.SeverityCritical,
			Source:       alert.SourceDetection,
			StartsAt:     Base,
			GeneratorID:  "event/01JDX3",
			GeneratorURL: "https://kubeward.example.com/events/01JDX3",
		},
		{
			Labels:       alert.LabelSet{"alertname": "PrivilegedContainer", "namespace": "payments", "workload": "deployment/api"},
			Annotations:  map[string]string{"summary": "Container api runs privileged <root>"},
			Severity:     alert.SeverityHigh,
			Source:       alert.SourceViolation,
			StartsAt:     Base.Add(time.Minute),
			GeneratorID:  "violation/psp-privileged/api",
			GeneratorURL: "https://kubeward.example.com/policies/violations/psp-privileged",
		},
		{
			Labels:      alert.LabelSet{"alertname": "CVE-2024-3094", "namespace": "payments", "image": "registry.example.com/api:1.4.2"},
			Annotations: map[string]string{"summary": "xz-utils backdoor in api image"},
			Severity:    alert.SeverityCritical,
			Source:      alert.SourceFinding,
			StartsAt:    Base.Add(-time.Hour),
			EndsAt:      Base.Add(10 * time.Minute),
			GeneratorID: "finding/CVE-2024-3094/api",
		},
	}
	out := make([]*alert.Alert, len(as))
	for i := range as {
		if err := as[i].Normalize(); err != nil {
			panic(err) // fixed data: a failure is a bug in this file
		}
		out[i] = &as[i]
	}
	return out
}

// GoldenJSON compares got, a JSON document, with the indented golden file
// at path (relative to the test's directory). With -update it rewrites the
// file instead.
func GoldenJSON(t *testing.T, path string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, got)
	}
	buf.WriteByte('\n')
	Golden(t, path, buf.Bytes())
}

// Golden compares got with the golden file at path; with -update it
// rewrites the file.
func Golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run the test with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
