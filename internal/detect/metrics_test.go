package detect_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/event"
	"github.com/kubeward/kubeward/internal/detect/internal/metricstest"
	"github.com/kubeward/kubeward/internal/detect/k8saudit"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
)

const malformedMetric = "kubeward_detect_malformed_events_total"

func malformedCount(t *testing.T, reason string) float64 {
	t.Helper()
	return metricstest.Counter(t, malformedMetric, map[string]string{"reason": reason})
}

// TestMalformedEventsCounted replays bad input and checks that every
// rejected item is counted once under its reason, that the good events
// around it are still evaluated, and that only an unreadable stream stops
// the replay.
func TestMalformedEventsCounted(t *testing.T) {
	e := newEngine(t, upstreamRules(t), tetragon.DefaultRules())
	priv := compact(t, "testdata/audit/privileged_pod_create.json")
	huge := `{"auditID":"big","stage":"ResponseComplete","requestObject":{"data":"` + strings.Repeat("a", k8saudit.MaxEventSize) + `"}}`
	tests := []struct {
		name      string
		input     string
		source    string
		reason    string
		count     float64
		rejected  int
		streamErr bool
	}{
		{"unknown shape", priv + "\n{\"x\":1}\n42\n" + priv, detect.AutoSource, detect.ReasonUnknownShape, 2, 2, false},
		{"not an audit event", `{"process_exec":{"process":{"binary":"/bin/sh"}}}` + "\n" + priv, k8saudit.SourceName, detect.ReasonNotAnEvent, 1, 1, false},
		{"event too large", priv + "\n" + huge + "\n" + priv, detect.AutoSource, detect.ReasonTooLarge, 1, 1, false},
		{"event list with bad items", `{"kind":"EventList","items":[` + priv + `,7,{"y":2}]}`, detect.AutoSource, detect.ReasonUnknownShape, 2, 2, false},
		{"unknown source", priv, "syslog", detect.ReasonUnknownSource, 1, 1, false},
		{"broken stream", priv + "\n{broken", detect.AutoSource, detect.ReasonInvalidJSON, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := malformedCount(t, tt.reason)
			dets, st, err := detect.Replay(context.Background(), e, strings.NewReader(tt.input), tt.source)
			if (err != nil) != tt.streamErr {
				t.Fatalf("replay error %v, want one: %v", err, tt.streamErr)
			}
			if got := malformedCount(t, tt.reason) - before; got != tt.count {
				t.Errorf("%s{reason=%q} rose by %v, want %v", malformedMetric, tt.reason, got, tt.count)
			}
			if len(st.Rejected) != tt.rejected {
				t.Errorf("rejected %v, want %d items", st.Rejected, tt.rejected)
			}
			for _, r := range st.Rejected {
				var de *detect.DecodeError
				if !errors.As(r, &de) || de.Reason != tt.reason || r.Error() == "" {
					t.Errorf("rejection %q does not carry reason %q", r, tt.reason)
				}
			}
			// The good events next to the bad ones are evaluated.
			if tt.source != "syslog" && len(dets) == 0 {
				t.Errorf("no detections from the valid events (stats %+v)", st)
			}
		})
	}
	t.Run("event of an unloaded source", func(t *testing.T) {
		before := malformedCount(t, detect.ReasonUnknownSource)
		if dets := e.Evaluate(nil, &event.Event{Source: "syslog"}); len(dets) != 0 {
			t.Errorf("detections for an unknown source: %v", dets)
		}
		if got := malformedCount(t, detect.ReasonUnknownSource) - before; got != 1 {
			t.Errorf("unknown source counted %v times, want 1", got)
		}
	})
}

// TestBadRuleFiles checks that rule files that cannot be used give an
// error naming the file and the problem, and are counted by stage; and
// that tolerated problems are counted as warnings.
func TestBadRuleFiles(t *testing.T) {
	const metric = "kubeward_detect_rule_load_failures_total"
	tests := []struct {
		name, file, stage, wantErr string
	}{
		{"invalid YAML", "- rule: [unterminated\n", detect.StageLoad, "bad.yaml"},
		{"rule without condition", "- rule: r\n  desc: d\n  output: o\n  priority: WARNING\n  source: k8s_audit\n", detect.StageLoad, "condition"},
		{"condition syntax", "- rule: r\n  desc: d\n  condition: ka.verb = \n  output: o\n  priority: WARNING\n  source: k8s_audit\n", detect.StageCompile, "bad.yaml"},
		{"unknown field", "- rule: r\n  desc: d\n  condition: ka.no.such.field = x\n  output: o\n  priority: WARNING\n  source: k8s_audit\n", detect.StageCompile, "ka.no.such.field"},
		{"unknown macro", "- rule: r\n  desc: d\n  condition: ka.verb = get and never_defined\n  output: o\n  priority: WARNING\n  source: k8s_audit\n", detect.StageCompile, "never_defined"},
		{"bad priority", "- rule: r\n  desc: d\n  condition: ka.verb = get\n  output: o\n  priority: LOUD\n  source: k8s_audit\n", detect.StageLoad, "LOUD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := metricstest.Counter(t, metric, map[string]string{"stage": tt.stage})
			_, err := detect.New(detect.Config{Rules: []rules.File{{Name: "bad.yaml", Data: []byte(tt.file)}}})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
			if got := metricstest.Counter(t, metric, map[string]string{"stage": tt.stage}) - before; got != 1 {
				t.Errorf("%s{stage=%q} rose by %v, want 1 (error: %v)", metric, tt.stage, got, err)
			}
		})
	}
	t.Run("rules of an unloaded source are a warning", func(t *testing.T) {
		const warnings = "kubeward_detect_rule_warnings_total"
		before := metricstest.Counter(t, warnings, nil)
		e, err := detect.New(detect.Config{Rules: []rules.File{{Name: "syscall.yaml", Data: []byte(
			"- rule: shell\n  desc: d\n  condition: proc.name = bash\n  output: o\n  priority: WARNING\n  source: syscall\n")}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Warnings()) != 1 || !strings.Contains(e.Warnings()[0], `"syscall"`) {
			t.Errorf("warnings %q", e.Warnings())
		}
		if got := metricstest.Counter(t, warnings, nil) - before; got != 1 {
			t.Errorf("%s rose by %v, want 1", warnings, got)
		}
	})
}
