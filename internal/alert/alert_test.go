package alert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/kubeward/kubeward/internal/alert"
)

func TestFingerprintMatchesAlertmanager(t *testing.T) {
	sets := []alert.LabelSet{
		{},
		{"alertname": "A"},
		{"alertname": "A", "namespace": "prod", "severity": "critical"},
		{"b": "1", "a": "2"},
		{"a": "x\xffy"},
	}
	for _, ls := range sets {
		ml := model.LabelSet{}
		for k, v := range ls {
			ml[model.LabelName(k)] = model.LabelValue(v)
		}
		if got, want := uint64(ls.Fingerprint()), uint64(ml.Fingerprint()); got != want {
			t.Errorf("Fingerprint(%v) = %x, Alertmanager computes %x", ls, got, want)
		}
	}
	// Independent of map order and stable across releases.
	a := alert.LabelSet{"alertname": "A", "namespace": "prod"}
	b := alert.LabelSet{"namespace": "prod", "alertname": "A"}
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("fingerprint depends on map order")
	}
	if a.Fingerprint() == (alert.LabelSet{"alertname": "A", "namespace": "dev"}).Fingerprint() {
		t.Fatal("different label sets share a fingerprint")
	}
	fp := a.Fingerprint()
	back, err := alert.ParseFingerprint(fp.String())
	if err != nil || back != fp || len(fp.String()) != 16 {
		t.Fatalf("round trip %s -> %v, %v", fp, back, err)
	}
}

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in      string
		want    alert.Matcher
		wantErr string
	}{
		{`severity="critical"`, alert.Matcher{Name: "severity", Type: alert.MatchEqual, Value: "critical"}, ""},
		{`team!=qa`, alert.Matcher{Name: "team", Type: alert.MatchNotEqual, Value: "qa"}, ""},
		{`namespace=~"prod-.*"`, alert.Matcher{Name: "namespace", Type: alert.MatchRegexp, Value: "prod-.*"}, ""},
		{` ns !~ "kube-.*" `, alert.Matcher{Name: "ns", Type: alert.MatchNotRegexp, Value: "kube-.*"}, ""},
		{`a="quote \" inside"`, alert.Matcher{Name: "a", Type: alert.MatchEqual, Value: `quote " inside`}, ""},
		{`a=`, alert.Matcher{Name: "a", Type: alert.MatchEqual, Value: ""}, ""},
		{`novalue`, alert.Matcher{}, "want name, operator"},
		{`=x`, alert.Matcher{}, "want name, operator"},
		{`a!x`, alert.Matcher{}, "unknown operator"},
		{`1a=b`, alert.Matcher{}, "label name"},
		{`a=~"("`, alert.Matcher{}, "invalid regular expression"},
		{`a="unterminated`, alert.Matcher{}, "double-quoted"},
	}
	for _, tt := range tests {
		got, err := alert.ParseMatcher(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseMatcher(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMatcher(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		again, err := alert.ParseMatcher(got.String())
		if err != nil || again != got {
			t.Errorf("String round trip of %+v: %+v, %v", got, again, err)
		}
	}
}

func TestMatchers(t *testing.T) {
	ls := alert.LabelSet{"namespace": "prod-eu", "severity": "high"}
	tests := []struct {
		ms   []string
		want bool
	}{
		{nil, true},
		{[]string{`namespace=~"prod-.*"`}, true},
		{[]string{`namespace=~"prod"`}, false}, // anchored
		{[]string{`namespace!~"dev.*"`, `severity="high"`}, true},
		{[]string{`severity!="high"`}, false},
		{[]string{`team!="qa"`}, true}, // missing label is ""
		{[]string{`team=""`}, true},
		{[]string{`team=~".+"`}, false},
	}
	for _, tt := range tests {
		var parsed []alert.Matcher
		for _, s := range tt.ms {
			m, err := alert.ParseMatcher(s)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, m)
		}
		ms, err := alert.CompileMatchers(parsed)
		if err != nil {
			t.Fatal(err)
		}
		if got := ms.Matches(ls); got != tt.want {
			t.Errorf("%v matches %v = %v, want %v", tt.ms, ls, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		a       alert.Alert
		wantErr string
		labels  string
	}{
		{"fields mirrored into labels", alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, Severity: "high", Source: "finding", StartsAt: start}, "", `{alertname="A", severity="high", source="finding"}`},
		{"labels mirrored into fields", alert.Alert{Labels: alert.LabelSet{"alertname": "A", "severity": "low", "source": "anomaly"}, StartsAt: start}, "", `{alertname="A", severity="low", source="anomaly"}`},
		{"disagreement", alert.Alert{Labels: alert.LabelSet{"alertname": "A", "severity": "low"}, Severity: "high", Source: "finding", StartsAt: start}, "disagrees", ""},
		{"no alertname", alert.Alert{Labels: alert.LabelSet{}, Severity: "high", Source: "finding", StartsAt: start}, "alertname label is required", ""},
		{"bad severity", alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, Severity: "urgent", Source: "finding", StartsAt: start}, "severity \"urgent\" is invalid", ""},
		{"bad source", alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, Severity: "high", Source: "cron", StartsAt: start}, "source \"cron\" is invalid", ""},
		{"no severity", alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, Source: "finding", StartsAt: start}, "severity is required", ""},
		{"bad label name", alert.Alert{Labels: alert.LabelSet{"alertname": "A", "k8s.io/x": "y"}, Severity: "high", Source: "finding", StartsAt: start}, "label name \"k8s.io/x\" is invalid", ""},
		{"empty value", alert.Alert{Labels: alert.LabelSet{"alertname": "A", "x": ""}, Severity: "high", Source: "finding", StartsAt: start}, "empty value", ""},
		{"no start", alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, Severity: "high", Source: "finding"}, "startsAt is required", ""},
		{"ends before start", alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, Severity: "high", Source: "finding", StartsAt: start, EndsAt: start.Add(-time.Second)}, "before startsAt", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.a.Labels.String()
			err := tt.a.Normalize()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Normalize error = %v, want %q", err, tt.wantErr)
				}
				if tt.a.Labels.String() != before {
					t.Fatal("Normalize modified the alert on failure")
				}
				return
			}
			if err != nil || tt.a.Labels.String() != tt.labels {
				t.Fatalf("Normalize = %v, labels %s; want %s", err, tt.a.Labels, tt.labels)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ack := &alert.Ack{By: "alice", At: at(1)}
	tests := []struct {
		name                  string
		old, recv             alert.Alert
		wantStart, wantEnd    time.Time
		wantAck, wantOldAnnot bool
	}{
		{"update keeps earliest start and ack", alert.Alert{StartsAt: at(0), UpdatedAt: at(0), Ack: ack}, alert.Alert{StartsAt: at(5), UpdatedAt: at(5)}, at(0), time.Time{}, true, false},
		{"resolution of the episode", alert.Alert{StartsAt: at(0), UpdatedAt: at(0)}, alert.Alert{StartsAt: at(0), EndsAt: at(6), UpdatedAt: at(6)}, at(0), at(6), false, false},
		{"new episode after resolution", alert.Alert{StartsAt: at(0), EndsAt: at(6), UpdatedAt: at(6), Ack: ack}, alert.Alert{StartsAt: at(10), UpdatedAt: at(10)}, at(10), time.Time{}, false, false},
		{"out of order update keeps stored state", alert.Alert{StartsAt: at(0), EndsAt: at(8), UpdatedAt: at(9), Annotations: map[string]string{"v": "old"}}, alert.Alert{StartsAt: at(0), UpdatedAt: at(7)}, at(0), at(8), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alert.Merge(tt.old, tt.recv)
			if !got.StartsAt.Equal(tt.wantStart) || !got.EndsAt.Equal(tt.wantEnd) {
				t.Fatalf("Merge = %v..%v, want %v..%v", got.StartsAt, got.EndsAt, tt.wantStart, tt.wantEnd)
			}
			if (got.Ack != nil) != tt.wantAck {
				t.Fatalf("ack = %v, want kept=%v", got.Ack, tt.wantAck)
			}
			if (got.Annotations["v"] == "old") != tt.wantOldAnnot {
				t.Fatalf("annotations = %v", got.Annotations)
			}
		})
	}
}

func TestAlertSetHash(t *testing.T) {
	h := alert.AlertSetHash([]alert.Fingerprint{2, 1}, []alert.Fingerprint{3})
	if h != alert.AlertSetHash([]alert.Fingerprint{1, 2}, []alert.Fingerprint{3}) {
		t.Fatal("hash depends on order")
	}
	distinct := map[string]bool{h: true}
	for _, c := range [][2][]alert.Fingerprint{
		{{1, 2, 3}, nil}, {{1}, {2, 3}}, {nil, {1, 2, 3}}, {{1, 2}, nil}, {nil, nil},
	} {
		distinct[alert.AlertSetHash(c[0], c[1])] = true
	}
	if len(distinct) != 6 {
		t.Fatalf("%d distinct hashes for 6 different sets", len(distinct))
	}
}
