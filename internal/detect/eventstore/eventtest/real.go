package eventtest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/shareddata"
)

// AuditDir is the directory of the detection engine's recorded Kubernetes
// audit events (internal/detect/testdata/audit).
func AuditDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("eventtest: cannot locate its source file to find internal/detect/testdata/audit")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "audit")
}

// RealMessages runs the real detection engine, with the upstream Falco
// Kubernetes audit rules (from the shared test data), over every recorded
// audit event file of AuditDir and returns its detections as the bus
// messages detect.Pipeline publishes. It fails the test when the engine
// detects nothing.
func RealMessages(tb testing.TB) []bus.Message {
	tb.Helper()
	upstream := shareddata.Read(tb, "falco/k8s_audit_rules.yaml")
	e, err := detect.New(detect.Config{Rules: []rules.File{{Name: "k8s_audit_rules.yaml", Data: upstream}}, Hostname: "test-host"})
	if err != nil {
		tb.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(AuditDir(tb), "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("eventtest: no audit event files in %s: %v", AuditDir(tb), err)
	}
	var dets []detect.Detection
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		d, st, err := detect.Replay(context.Background(), e, f, detect.AutoSource)
		f.Close()
		if err != nil || len(st.Rejected) > 0 {
			tb.Fatalf("replay %s: rejected %v, error %v", p, st.Rejected, err)
		}
		dets = append(dets, d...)
	}
	if len(dets) == 0 {
		tb.Fatal("eventtest: the detection engine detected nothing in the recorded audit events")
	}
	msgs, err := detect.Messages(dets)
	if err != nil {
		tb.Fatal(err)
	}
	return msgs
}
