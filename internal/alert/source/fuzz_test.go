package source_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
)

// fuzzConvert checks that convert never panics, and that whatever it
// accepts is a valid alert that converts the same way again.
func fuzzConvert(t *testing.T, convert source.ConvertFunc, data []byte) {
	msg := bus.Message{Topic: "fuzz", Value: data}
	a, err := convert(msg)
	if err != nil {
		return
	}
	if err := a.Normalize(); err != nil {
		t.Fatalf("accepted an invalid alert: %v", err)
	}
	if a.EndsAt.Before(a.StartsAt) {
		t.Fatalf("alert ends %v before it starts %v", a.EndsAt, a.StartsAt)
	}
	b, err := convert(msg)
	if err != nil || b.Fingerprint() != a.Fingerprint() {
		t.Fatalf("second conversion differs: %v, %s vs %s", err, b.Fingerprint(), a.Fingerprint())
	}
}

func FuzzDetection(f *testing.F) {
	f.Add([]byte(`{"output":"x","priority":"Warning","rule":"R","time":"2026-11-23T10:00:00Z","output_fields":{"k8s.ns.name":"a","ka.target.resource":"pods","ka.target.name":"p","evt.time":1}}`))
	f.Add([]byte(`{"rule":"R","priority":"debug","time":"2026-11-23T10:00:00Z","output_fields":{"ka.user.name":["x"],"k8s.pod.name":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzConvert(t, source.Converter{}.Detection, data) })
}

func FuzzViolation(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-23T10:00:00Z","user":"u","action":"Deny","result":{"policy":"p","rule":"r","result":"fail","severity":"high","resource":{"kind":"Pod","name":"n","namespace":"ns"}}}`))
	f.Add([]byte(`{"time":"2026-11-23T10:00:00Z","result":{"rule":"r","result":"fail"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzConvert(t, source.Converter{}.Violation, data) })
}
