package detect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/condition"
	"github.com/kubeward/kubeward/internal/detect/internal/metricstest"
	"github.com/kubeward/kubeward/internal/detect/rules"
	"github.com/kubeward/kubeward/internal/detect/tetragon"
	"github.com/kubeward/kubeward/internal/shareddata"
)

// The --detect-extra-field flag binds an ExtraOutputFields directly.
var (
	_ flag.Value  = (*detect.ExtraOutputFields)(nil)
	_ pflag.Value = (*detect.ExtraOutputFields)(nil)
)

// appendSourceIPs makes an upstream rule name ka.sourceips in its output
// itself, as an operator may do with Falco's override: {output: append}.
var appendSourceIPs = rules.File{Name: "addresses.yaml", Data: []byte(`
- rule: Attach/Exec Pod
  output: src=%ka.sourceips
  override: {output: append}
`)}

// extraWant is an extra output field a detection must carry, with the
// path of its value in the event's JSON.
type extraWant struct {
	field string
	path  []string
}

// eventValue returns the JSON of the value at path in the event file's
// first event, or nil when it has none.
func eventValue(t *testing.T, raw []byte, path []string) []byte {
	t.Helper()
	var v any
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&v); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withoutKey(t *testing.T, raw []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m[key]; !ok {
		t.Fatalf("event has no %q to remove", key)
	}
	delete(m, key)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replayBytes(t *testing.T, e *detect.Engine, raw []byte) []detect.Detection {
	t.Helper()
	dets, st, err := detect.Replay(context.Background(), e, bytes.NewReader(raw), detect.AutoSource)
	if err != nil || len(st.Rejected) > 0 || len(dets) == 0 {
		t.Fatalf("replay: %d detections, rejected %v, error %v", len(dets), st.Rejected, err)
	}
	return dets
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExtraOutputFields replays real events through engines with and
// without extra output fields and checks that the extras follow the
// rule's own output fields with the event's values, leave the output text
// alone, and are left out when the event lacks them or the rule's output
// names them already.
func TestExtraOutputFields(t *testing.T) {
	execPod := mustRead(t, "testdata/audit/exec_pod.json")
	netcat := mustRead(t, shareddata.Path(t, "tetragon/03_chapter/00_process_lifecycle/nc_process_connect.json"))
	kprobe := mustRead(t, shareddata.Path(t, "tetragon/03_chapter/00_four_golden_signals/process_kprobe.json"))
	upstream := []rules.File{upstreamRules(t)}
	verb := detect.ExtraOutputFields{}
	if err := verb.Set("k8s_audit:ka.verb"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rules []rules.File
		extra detect.ExtraOutputFields
		event []byte
		want  []extraWant
	}{
		{"audit defaults", upstream, nil, execPod, []extraWant{{"ka.sourceips", []string{"sourceIPs"}}}},
		{"audit event without sourceIPs", upstream, nil, withoutKey(t, execPod, "sourceIPs"), nil},
		{"audit, rule output names the field", append(upstream, appendSourceIPs), nil, execPod, nil},
		{"audit, none configured", upstream, detect.ExtraOutputFields{}, execPod, nil},
		{"audit, custom field", upstream, verb, execPod, []extraWant{{"ka.verb", []string{"verb"}}}},
		{"tetragon connect defaults", []rules.File{tetragon.DefaultRules()}, nil, netcat, []extraWant{
			{"tetragon.net.source_ip", []string{"process_connect", "source_ip"}},
			{"tetragon.net.destination_ip", []string{"process_connect", "destination_ip"}},
		}},
		{"tetragon event without sockets", []rules.File{tetragon.DefaultRules()}, nil, kprobe, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := detect.New(detect.Config{Rules: tt.rules, ExtraOutputFields: detect.ExtraOutputFields{}})
			if err != nil {
				t.Fatal(err)
			}
			e, err := detect.New(detect.Config{Rules: tt.rules, ExtraOutputFields: tt.extra})
			if err != nil {
				t.Fatal(err)
			}
			base, got := replayBytes(t, plain, tt.event), replayBytes(t, e, tt.event)
			if len(got) != len(base) {
				t.Fatalf("%d detections with extra fields, %d without", len(got), len(base))
			}
			for i, d := range got {
				b := base[i]
				// Extras the rule's output names itself stay where the
				// output puts them.
				var extras []extraWant
				for _, w := range tt.want {
					if !slices.ContainsFunc(b.Fields, func(f condition.FieldValue) bool { return f.Name == w.field }) {
						extras = append(extras, w)
					}
				}
				if d.Rule != b.Rule || d.Output != b.Output {
					t.Errorf("rule %q output %q, want rule %q output %q (extras must not change the text)", d.Rule, d.Output, b.Rule, b.Output)
				}
				if len(d.Fields) != len(b.Fields)+len(extras) {
					t.Fatalf("rule %q: fields %v, want the output's %v then %d extra", d.Rule, d.Fields, b.Fields, len(extras))
				}
				seen := map[string]bool{}
				for j, f := range d.Fields {
					if seen[f.Name] {
						t.Errorf("rule %q: field %q reported twice", d.Rule, f.Name)
					}
					seen[f.Name] = true
					if j < len(b.Fields) && (f.Name != b.Fields[j].Name || !jsonEqual(t, f.Value, b.Fields[j].Value)) {
						t.Errorf("rule %q: field %d = %+v, want the output's %+v", d.Rule, j, f, b.Fields[j])
					}
				}
				for j, w := range extras {
					f := d.Fields[len(b.Fields)+j]
					want := eventValue(t, tt.event, w.path)
					if want == nil {
						t.Fatalf("test event has no %v", w.path)
					}
					if gotJSON, _ := json.Marshal(f.Value); f.Name != w.field || !bytes.Equal(gotJSON, want) {
						t.Errorf("rule %q: extra field %s = %s, want %s = %s", d.Rule, f.Name, gotJSON, w.field, want)
					}
				}
				// The JSON alert carries them as output fields.
				var alert struct {
					OutputFields map[string]json.RawMessage `json:"output_fields"`
				}
				raw, err := d.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(raw, &alert); err != nil {
					t.Fatal(err)
				}
				for _, w := range tt.want {
					if !bytes.Equal(alert.OutputFields[w.field], eventValue(t, tt.event, w.path)) {
						t.Errorf("rule %q: output_fields[%q] = %s", d.Rule, w.field, alert.OutputFields[w.field])
					}
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// TestExtraOutputFieldsErrors checks that extra output fields that cannot
// be extracted stop New with an error naming them, counted as a compile
// failure.
func TestExtraOutputFieldsErrors(t *testing.T) {
	tests := []struct {
		name    string
		extra   detect.ExtraOutputFields
		wantErr string
	}{
		{"unknown source", detect.ExtraOutputFields{"syscall": {"fd.cip"}}, `source "syscall", which is not configured`},
		{"unknown field", detect.ExtraOutputFields{"k8s_audit": {"ka.no.such.field"}}, `extra output field "ka.no.such.field" of source "k8s_audit"`},
		{"field of another source", detect.ExtraOutputFields{"k8s_audit": {"tetragon.net.source_ip"}}, `"tetragon.net.source_ip" of source "k8s_audit"`},
		{"text after the field", detect.ExtraOutputFields{"k8s_audit": {"ka.sourceips and more"}}, "not a single field reference"},
		{"empty name", detect.ExtraOutputFields{"tetragon": {""}}, "empty field name"},
		{"missing argument", detect.ExtraOutputFields{"k8s_audit": {"ka.uri.param"}}, "needs an argument"},
	}
	const metric = "kubeward_detect_rule_load_failures_total"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := metricstest.Counter(t, metric, map[string]string{"stage": detect.StageCompile})
			_, err := detect.New(detect.Config{Rules: []rules.File{tetragon.DefaultRules()}, ExtraOutputFields: tt.extra})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := metricstest.Counter(t, metric, map[string]string{"stage": detect.StageCompile}) - before; got != 1 {
				t.Errorf("compile failures grew by %v, want 1", got)
			}
		})
	}
}

// TestExtraOutputFieldsSet checks the SOURCE:FIELD syntax of the command
// line flag.
func TestExtraOutputFieldsSet(t *testing.T) {
	tests := []struct {
		name    string
		start   detect.ExtraOutputFields
		args    []string
		want    string // String() after the calls
		wantErr bool
	}{
		{"nil map", nil, []string{"k8s_audit:ka.verb"}, "k8s_audit:ka.verb", false},
		{"extends defaults", detect.DefaultExtraOutputFields(), []string{"k8s_audit:ka.verb"},
			"k8s_audit:ka.sourceips,k8s_audit:ka.verb,tetragon:tetragon.net.source_ip,tetragon:tetragon.net.destination_ip", false},
		{"duplicate kept once", nil, []string{"tetragon:tetragon.pod.name", "tetragon:tetragon.pod.name"}, "tetragon:tetragon.pod.name", false},
		{"percent and spaces", nil, []string{" k8s_audit : %ka.verb "}, "k8s_audit:ka.verb", false},
		{"argument with colon", nil, []string{"k8s_audit:ka.uri.param[a:b]"}, "k8s_audit:ka.uri.param[a:b]", false},
		{"no colon", nil, []string{"ka.verb"}, "", true},
		{"no source", nil, []string{":ka.verb"}, "", true},
		{"no field", nil, []string{"k8s_audit:"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tt.start
			var err error
			for _, a := range tt.args {
				if err = x.Set(a); err != nil {
					break
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "SOURCE:FIELD") {
				t.Errorf("error %q does not show the syntax", err)
			}
			if got := x.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
