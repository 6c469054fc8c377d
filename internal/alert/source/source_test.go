package source_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/memstore"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
	"github.com/kubeward/kubeward/internal/flow/sensor"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/packs"
	"github.com/kubeward/kubeward/internal/shareddata"
)

var quiet = slog.New(slog.DiscardHandler)

// pipeline returns a real dispatcher on an in-memory store, and the store.
func pipeline(t *testing.T) (*dispatch.Dispatcher, *memstore.Store) {
	t.Helper()
	cfg, err := config.Load([]byte("route: {receiver: devnull, group_by: [namespace]}\nreceivers: [{name: devnull}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: st, Integrations: ints, Clock: alerttest.NewClock(alerttest.Base), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return d, st
}

// deliver numbers msgs as a bus would and hands them to h as one batch.
func deliver(t *testing.T, h bus.Handler, msgs []bus.Message) error {
	t.Helper()
	for i := range msgs {
		msgs[i].Offset = int64(i)
	}
	return h(context.Background(), msgs)
}

// replay runs the real detection engine (the upstream Falco k8s audit rules
// and the Tetragon rules) over a file of events.
func replay(t *testing.T, e *detect.Engine, path string) []detect.Detection {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dets, st, err := detect.Replay(context.Background(), e, f, detect.AutoSource)
	if err != nil || len(st.Rejected) > 0 || len(dets) == 0 {
		t.Fatalf("replay %s: %d detections, rejected %v, error %v", path, len(dets), st.Rejected, err)
	}
	return dets
}

func detectionEngine(t *testing.T) *detect.Engine {
	t.Helper()
	upstream := shareddata.Read(t, "falco/k8s_audit_rules.yaml")
	e, err := detect.New(detect.Config{Rules: []rules.File{{Name: "k8s_audit_rules.yaml", Data: upstream}, tetragon.DefaultRules()}, Hostname: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// stored returns the stored alerts as indented JSON, for golden files.
func stored(t *testing.T, st *memstore.Store) []byte {
	t.Helper()
	as, err := st.ListAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(as)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDetectionsBecomeAlerts(t *testing.T) {
	e := detectionEngine(t)
	var dets []detect.Detection
	for _, p := range []string{
		"../../detect/testdata/audit/exec_pod.json",
		"../../detect/testdata/audit/clusterrolebinding_cluster_admin.json",
		"../../detect/testdata/audit/anonymous_allowed.json",
		shareddata.Path(t, "tetragon/03_chapter/03_security_observability_events/01_reaching_the_host_namespace/privileged-pod-nsenter.json"),
	} {
		dets = append(dets, replay(t, e, p)...)
	}
	msgs, err := detect.Messages(dets)
	if err != nil {
		t.Fatal(err)
	}
	d, st := pipeline(t)
	h := source.NewHandler(source.KindDetection, d, source.Converter{}.Detection, quiet)
	before := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", map[string]string{"kind": "detection", "result": "ingested"})
	if err := deliver(t, h, msgs); err != nil {
		t.Fatalf("handler: %v", err)
	}
	after := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", map[string]string{"kind": "detection", "result": "ingested"})
	if after-before != float64(len(msgs)) {
		t.Errorf("ingested metric grew by %v, want %d", after-before, len(msgs))
	}
	alerttest.GoldenJSON(t, "testdata/detections.golden.json", stored(t, st))

	// Every detection is one alert of its rule, with the priority mapped.
	for _, det := range dets {
		a, err := source.Converter{}.Detection(mustMessage(t, det))
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.GetAlert(context.Background(), a.Fingerprint())
		if err != nil {
			t.Fatalf("detection of %q not stored: %v", det.Rule, err)
		}
		if got.Name() != det.Rule || got.Severity != source.PrioritySeverity(det.Priority) || got.Source != alert.SourceDetection {
			t.Errorf("alert %s: name %q severity %q source %q; want %q %q detection", got.Fingerprint(), got.Name(), got.Severity, got.Source, det.Rule, source.PrioritySeverity(det.Priority))
		}
	}
}

func mustMessage(t *testing.T, d detect.Detection) bus.Message {
	t.Helper()
	msgs, err := detect.Messages([]detect.Detection{d})
	if err != nil {
		t.Fatal(err)
	}
	return msgs[0]
}

// TestDetectionFingerprint checks that repeats of a rule on the same object
// are one alert whatever else differs, and that another object is another
// alert.
func TestDetectionFingerprint(t *testing.T) {
	e := detectionEngine(t)
	base := replay(t, e, "../../detect/testdata/audit/exec_pod.json")[0]
	fp := func(d detect.Detection) alert.Fingerprint {
		t.Helper()
		a, err := source.Converter{}.Detection(mustMessage(t, d))
		if err != nil {
			t.Fatal(err)
		}
		return a.Fingerprint()
	}
	withField := func(name string, v any) detect.Detection {
		d := base
		d.Fields = append(d.Fields[:0:0], d.Fields...)
		for i := range d.Fields {
			if d.Fields[i].Name == name {
				d.Fields[i].Value = v
			}
		}
		return d
	}
	later := base
	later.Time = base.Time.Add(time.Hour)
	later.Output = base.Output + " again"
	later.Hostname = "other-replica"
	tests := []struct {
		name string
		d    detect.Detection
		same bool
	}{
		{"later repeat with other output and host", later, true},
		{"other command", withField("ka.uri.param[command]", "bash"), true},
		{"other pod", withField("ka.target.name", "web-1"), false},
		{"other namespace", withField("ka.target.namespace", "prod"), false},
		{"other user", withField("ka.user.name", "mallory"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fp(tt.d) == fp(base); got != tt.same {
				t.Errorf("same fingerprint = %v, want %v", got, tt.same)
			}
		})
	}
	// A repeat within ResolveAfter extends the stored alert's episode.
	d, st := pipeline(t)
	h := source.NewHandler(source.KindDetection, d, source.Converter{ResolveAfter: 2 * time.Hour}.Detection, quiet)
	if err := deliver(t, h, []bus.Message{mustMessage(t, base), mustMessage(t, later)}); err != nil {
		t.Fatal(err)
	}
	as, err := st.ListAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 {
		t.Fatalf("%d alerts stored for a repeated detection, want 1", len(as))
	}
	if !as[0].StartsAt.Equal(base.Time) || !as[0].EndsAt.Equal(later.Time.Add(2*time.Hour)) {
		t.Errorf("episode %v..%v, want %v..%v", as[0].StartsAt, as[0].EndsAt, base.Time, later.Time.Add(2*time.Hour))
	}
	if got := as[0].Annotations[source.AnnotationOutput]; !strings.HasSuffix(got, " again") {
		t.Errorf("output annotation %q is not the latest detection's", got)
	}
}

// recorder is a bus.Publisher that keeps what it is given.
type recorder struct{ msgs []bus.Message }

func (r *recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	r.msgs = append(r.msgs, msgs...)
	return nil
}

// violations runs the real admission webhook over a real AdmissionReview
// and returns the violation messages it publishes.
func violations(t *testing.T, review string) []bus.Message {
	t.Helper()
	engine, err := packs.Build(packs.Config{Packs: []string{packs.PSSBaseline, packs.BestPractice}})
	if err != nil {
		t.Fatal(err)
	}
	pub := &recorder{}
	h, err := admission.NewHandler(admission.Config{
		Engine:        engine,
		Actions:       map[string]policy.Action{packs.PSSBaseline: policy.ActionDeny},
		DefaultAction: policy.ActionWarn,
		Publisher:     pub,
		Logger:        quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(review)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, admission.Path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("admission webhook answered %d: %s", rec.Code, rec.Body)
	}
	if len(pub.msgs) == 0 {
		t.Fatalf("%s published no violations", review)
	}
	return pub.msgs
}

func TestViolationsBecomeAlerts(t *testing.T) {
	msgs := violations(t, "../../policy/admission/testdata/reviews/pod-privileged-create.json")
	d, st := pipeline(t)
	h := source.NewHandler(source.KindViolation, d, source.Converter{}.Violation, quiet)
	if err := deliver(t, h, msgs); err != nil {
		t.Fatalf("handler: %v", err)
	}
	// The webhook stamps violations with the wall clock: check the episode
	// length, then leave the times out of the golden file.
	as, err := st.ListAlerts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range as {
		if got := as[i].EndsAt.Sub(as[i].StartsAt); got != source.DefaultResolveAfter {
			t.Errorf("alert %s fires for %v, want %v", as[i].Name(), got, source.DefaultResolveAfter)
		}
		as[i].StartsAt, as[i].EndsAt = time.Time{}, time.Time{}
	}
	b, err := json.Marshal(as)
	if err != nil {
		t.Fatal(err)
	}
	alerttest.GoldenJSON(t, "testdata/violations.golden.json", b)
	for _, m := range msgs {
		var v admission.Violation
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		a, err := source.Converter{}.Violation(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.GetAlert(context.Background(), a.Fingerprint())
		if err != nil {
			t.Fatalf("violation of %s/%s not stored: %v", v.Result.Policy, v.Result.Rule, err)
		}
		r := v.Result
		want := map[string]string{"alertname": r.Rule, "source": "violation", "policy": r.Policy, "rule": r.Rule, "kind": r.Resource.Kind, "namespace": r.Resource.Namespace, "name": r.Resource.Name, "severity": string(source.PolicySeverity(r.Severity))}
		for k, w := range want {
			if got.Labels[k] != w {
				t.Errorf("violation %s/%s: label %s = %q, want %q", r.Policy, r.Rule, k, got.Labels[k], w)
			}
		}
	}
	// The same request again is the same alerts.
	if err := deliver(t, h, violations(t, "../../policy/admission/testdata/reviews/pod-privileged-create.json")); err != nil {
		t.Fatal(err)
	}
	if as, err = st.ListAlerts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countDistinct(msgs); len(as) != n {
		t.Errorf("%d alerts after a repeated request, want %d", len(as), n)
	}
}

// countDistinct counts the distinct (policy, rule) pairs of violations.
func countDistinct(msgs []bus.Message) int {
	seen := map[string]bool{}
	for _, m := range msgs {
		var v admission.Violation
		_ = json.Unmarshal(m.Value, &v)
		seen[v.Result.Policy+"/"+v.Result.Rule] = true
	}
	return len(seen)
}

func TestGenericAlerts(t *testing.T) {
	a := alerttest.SampleAlerts()[2].Clone()
	body, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	d, st := pipeline(t)
	h := source.NewHandler(source.KindAlert, d, source.Converter{}.Alert, quiet)
	if err := deliver(t, h, []bus.Message{{Topic: source.TopicAlerts, Value: body}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetAlert(context.Background(), a.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != a.Name() || got.Severity != a.Severity || got.Source != a.Source {
		t.Errorf("stored %+v, want %+v", got, a)
	}
}

// TestMalformedMessagesAreRejected checks that each bad message is
// dead-lettered and counted while the good ones of its batch are ingested.
func TestMalformedMessagesAreRejected(t *testing.T) {
	e := detectionEngine(t)
	good := mustMessage(t, replay(t, e, "../../detect/testdata/audit/exec_pod.json")[0])
	withValue := func(m bus.Message, f func(map[string]any)) bus.Message {
		var v map[string]any
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		f(v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		m.Value = b
		return m
	}
	goodViolation := violations(t, "../../policy/admission/testdata/reviews/pod-privileged-create.json")[0]
	sample, err := json.Marshal(alerttest.SampleAlerts()[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kind    string
		convert source.ConvertFunc
		good    bus.Message
		bad     bus.Message
		reason  string
	}{
		{"detection not JSON", source.KindDetection, source.Converter{}.Detection, good, bus.Message{Value: []byte("{not json")}, "invalid Falco alert JSON"},
		{"detection trailing data", source.KindDetection, source.Converter{}.Detection, good, bus.Message{Value: append(append([]byte{}, good.Value...), "{}"...)}, "trailing data"},
		{"detection without rule", source.KindDetection, source.Converter{}.Detection, good, withValue(good, func(v map[string]any) { delete(v, "rule") }), "without a rule"},
		{"detection bad priority", source.KindDetection, source.Converter{}.Detection, good, withValue(good, func(v map[string]any) { v["priority"] = "Urgent" }), "unknown priority"},
		{"detection bad time", source.KindDetection, source.Converter{}.Detection, good, withValue(good, func(v map[string]any) { v["time"] = "yesterday" }), "invalid Falco alert JSON"},
		{"detection too large", source.KindDetection, source.Converter{}.Detection, good, bus.Message{Value: make([]byte, alert.MaxAlertBytes+1)}, "exceeds"},
		{"violation not failed", source.KindViolation, source.Converter{}.Violation, goodViolation, withValue(goodViolation, func(v map[string]any) { v["result"].(map[string]any)["result"] = "pass" }), "is not a violation"},
		{"violation bad severity", source.KindViolation, source.Converter{}.Violation, goodViolation, withValue(goodViolation, func(v map[string]any) { v["result"].(map[string]any)["severity"] = "apocalyptic" }), "invalid policy violation JSON"},
		{"violation without rule", source.KindViolation, source.Converter{}.Violation, goodViolation, withValue(goodViolation, func(v map[string]any) { v["result"].(map[string]any)["rule"] = "" }), "without a rule"},
		{"alert unknown field", source.KindAlert, source.Converter{}.Alert, bus.Message{Value: sample}, withValue(bus.Message{Value: sample}, func(v map[string]any) { v["colour"] = "red" }), "unknown field"},
		{"alert without alertname", source.KindAlert, source.Converter{}.Alert, bus.Message{Value: sample}, withValue(bus.Message{Value: sample}, func(v map[string]any) { delete(v["labels"].(map[string]any), "alertname") }), "alertname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, st := pipeline(t)
			metric := map[string]string{"kind": tt.kind, "result": "malformed"}
			before := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", metric)
			err := deliver(t, source.NewHandler(tt.kind, d, tt.convert, quiet), []bus.Message{tt.good, tt.bad})
			var rej *bus.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("handler returned %v, want a *bus.RejectError", err)
			}
			if len(rej.Rejected) != 1 || rej.Rejected[0].Index != 1 || !strings.Contains(rej.Rejected[0].Err.Error(), tt.reason) {
				t.Fatalf("rejected %+v, want message 1 rejected for %q", rej.Rejected, tt.reason)
			}
			if got := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", metric) - before; got != 1 {
				t.Errorf("malformed metric grew by %v, want 1", got)
			}
			as, err := st.ListAlerts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != 1 {
				t.Errorf("%d alerts stored, want the good message's 1", len(as))
			}
		})
	}
}

// failingIngester fails as a storage outage does.
type failingIngester struct{ err error }

func (f failingIngester) Ingest(context.Context, ...alert.Alert) (dispatch.IngestResult, error) {
	return dispatch.IngestResult{}, f.err
}

func TestStorageFailureRedelivers(t *testing.T) {
	body, err := json.Marshal(alerttest.SampleAlerts()[0])
	if err != nil {
		t.Fatal(err)
	}
	outage := errors.New("disk full")
	h := source.NewHandler(source.KindAlert, failingIngester{outage}, source.Converter{}.Alert, quiet)
	err = deliver(t, h, []bus.Message{{Value: body}})
	var rej *bus.RejectError
	if !errors.Is(err, outage) || errors.As(err, &rej) || bus.IsPermanent(err) {
		t.Fatalf("handler returned %v, want a transient error wrapping the storage failure", err)
	}
}

func TestPipelineLimitRejects(t *testing.T) {
	cfg, err := config.Load([]byte("route: {receiver: devnull}\nreceivers: [{name: devnull}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: memstore.New(), Integrations: ints, Clock: alerttest.NewClock(alerttest.Base), Logger: quiet, MaxAlerts: 1})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []bus.Message
	for _, a := range alerttest.SampleAlerts()[:2] {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Value: b})
	}
	metric := map[string]string{"kind": source.KindAlert, "result": "rejected"}
	before := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", metric)
	err = deliver(t, source.NewHandler(source.KindAlert, d, source.Converter{}.Alert, quiet), msgs)
	var rej *bus.RejectError
	if !errors.As(err, &rej) || len(rej.Rejected) != 1 || rej.Rejected[0].Index != 1 || !errors.Is(rej.Rejected[0].Err, dispatch.ErrTooManyAlerts) {
		t.Fatalf("handler returned %v, want message 1 rejected for the alert limit", err)
	}
	if got := alerttest.MetricValue(t, "kubeward_alert_source_messages_total", metric) - before; got != 1 {
		t.Errorf("rejected metric grew by %v, want 1", got)
	}
}

func TestPrioritySeverity(t *testing.T) {
	want := map[rules.Priority]alert.Severity{
		rules.Emergency: alert.SeverityCritical, rules.Alert: alert.SeverityCritical, rules.Critical: alert.SeverityCritical,
		rules.Error: alert.SeverityHigh, rules.Warning: alert.SeverityMedium, rules.Notice: alert.SeverityLow,
		rules.Informational: alert.SeverityInfo, rules.Debug: alert.SeverityInfo,
	}
	for p, w := range want {
		if got := source.PrioritySeverity(p); got != w {
			t.Errorf("PrioritySeverity(%s) = %s, want %s", p, got, w)
		}
	}
}

func TestPolicySeverity(t *testing.T) {
	want := map[policy.Severity]alert.Severity{
		policy.SeverityCritical: alert.SeverityCritical, policy.SeverityHigh: alert.SeverityHigh,
		policy.SeverityMedium: alert.SeverityMedium, policy.SeverityLow: alert.SeverityLow,
		policy.SeverityInfo: alert.SeverityInfo, policy.SeverityUnknown: alert.SeverityMedium,
	}
	for s, w := range want {
		if got := source.PolicySeverity(s); got != w {
			t.Errorf("PolicySeverity(%s) = %s, want %s", s, got, w)
		}
	}
}

func TestConsumers(t *testing.T) {
	d, _ := pipeline(t)
	cs := source.Consumers(d, source.Converter{}, quiet)
	want := map[string]string{source.GroupDetections: detect.Topic, source.GroupViolations: admission.TopicViolations, source.GroupAlerts: source.TopicAlerts, source.GroupAnomalies: sensor.Topic}
	if len(cs) != len(want) {
		t.Fatalf("%d consumers, want %d", len(cs), len(want))
	}
	for _, c := range cs {
		if err := c.Options.Validate(); err != nil {
			t.Errorf("consumer %s: %v", c.Options.Group, err)
		}
		if len(c.Options.Topics) != 1 || want[c.Options.Group] != c.Options.Topics[0] || c.Handler == nil {
			t.Errorf("consumer %s reads %v, want [%s]", c.Options.Group, c.Options.Topics, want[c.Options.Group])
		}
	}
}
