package hubble

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDecodeExportGolden decodes an export mixing wrapped flows, a bare
// flow, enums as names and numbers, L7 DNS and HTTP, lost events and a
// node status, and compares the flows with the golden file.
func TestDecodeExportGolden(t *testing.T) {
	in, err := os.Open(filepath.Join("testdata", "export.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r := NewReader(in)
	var got []*Flow
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		got = append(got, f)
	}
	if len(got) != 5 {
		t.Fatalf("decoded %d flows, want 5 (2 non-flow lines skipped)", len(got))
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "export.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), b) {
		t.Errorf("decoded flows differ from %s:\n%s", golden, b)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		check   func(*testing.T, *Flow)
		wantErr string
		notFlow bool
	}{
		{
			name: "wrapped flow takes the response's node and time when its own are absent",
			line: `{"flow":{"verdict":"FORWARDED","IP":{"source":"10.0.0.1","destination":"10.0.0.2"}},"node_name":"n1","time":"2024-01-02T03:04:05Z"}`,
			check: func(t *testing.T, f *Flow) {
				if f.NodeName != "n1" || f.Time.Unix() != 1704164645 || f.Verdict != VerdictForwarded {
					t.Errorf("got %+v", f)
				}
			},
		},
		{
			name: "is_reply absent: a SYN+ACK is a reply",
			line: `{"flow":{"time":"2024-01-02T03:04:05Z","l4":{"TCP":{"source_port":80,"destination_port":5000,"flags":{"SYN":true,"ACK":true}}}}}`,
			check: func(t *testing.T, f *Flow) {
				if f.IsReply != nil || !f.IsReplyDirection() {
					t.Errorf("IsReply %v, IsReplyDirection %v", f.IsReply, f.IsReplyDirection())
				}
			},
		},
		{
			name: "is_reply false wins over flags",
			line: `{"flow":{"time":"2024-01-02T03:04:05Z","is_reply":false,"l4":{"TCP":{"flags":{"SYN":true,"ACK":true}}}}}`,
			check: func(t *testing.T, f *Flow) {
				if f.IsReplyDirection() {
					t.Error("is_reply:false read as a reply")
				}
			},
		},
		{
			name: "IPv6 addresses and numeric drop reason",
			line: `{"flow":{"time":"2024-01-02T03:04:05Z","verdict":"DROPPED","drop_reason_desc":181,"IP":{"source":"fd00::1","destination":"fd00::2","ipVersion":"IPv6"}}}`,
			check: func(t *testing.T, f *Flow) {
				if f.IP.Source.String() != "fd00::1" || f.DropReasonDesc != "181" {
					t.Errorf("got %+v %q", f.IP, f.DropReasonDesc)
				}
			},
		},
		{name: "lost events", line: `{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"3"},"time":"2024-01-02T03:04:05Z"}`, notFlow: true},
		{name: "agent event", line: `{"agent_event":{"type":"AGENT_STARTED"},"time":"2024-01-02T03:04:05Z"}`, notFlow: true},
		{name: "debug event", line: `{"debug_event":{"type":"DBG_CT_LOOKUP"}}`, notFlow: true},
		{name: "garbage", line: `hello world`, wantErr: "not a JSON object"},
		{name: "array", line: `[1,2]`, wantErr: "not a JSON object"},
		{name: "truncated", line: `{"flow":{"time":"2024-01-02T03:04:05Z","verdict":"FORW`, wantErr: "invalid flow JSON"},
		{name: "trailing data", line: `{"flow":{"time":"2024-01-02T03:04:05Z","verdict":"FORWARDED"}} {}`, wantErr: "trailing data"},
		{name: "empty object", line: `{}`, wantErr: "neither"},
		{name: "no time", line: `{"flow":{"verdict":"FORWARDED"}}`, wantErr: `no "time"`},
		{name: "bad time", line: `{"flow":{"verdict":"FORWARDED"},"time":"yesterday"}`, wantErr: "response time"},
		{
			name: "an enum name from a newer Cilium is kept as unrecognized",
			line: `{"flow":{"time":"2024-01-02T03:04:05Z","verdict":"MAYBE","Type":"L8","traffic_direction":"SIDEWAYS"}}`,
			check: func(t *testing.T, f *Flow) {
				if f.Verdict != Unrecognized || f.Type != Unrecognized || f.Verdict.String() != "UNRECOGNIZED" {
					t.Errorf("verdict %v, type %v", f.Verdict, f.Type)
				}
			},
		},
		{name: "port out of range", line: `{"flow":{"time":"2024-01-02T03:04:05Z","l4":{"TCP":{"destination_port":70000}}}}`, wantErr: "invalid flow JSON"},
		{name: "bad address", line: `{"flow":{"time":"2024-01-02T03:04:05Z","IP":{"source":"10.0.0.300"}}}`, wantErr: "invalid flow JSON"},
		{name: "enum of the wrong type", line: `{"flow":{"time":"2024-01-02T03:04:05Z","Type":true}}`, wantErr: "flow Type: want a name or a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.line))
			switch {
			case tt.notFlow:
				if !errors.Is(err, ErrNotFlow) {
					t.Fatalf("err = %v, want ErrNotFlow", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, f)
			}
		})
	}
}

// TestReaderSkipsBadLines checks that bad lines are reported with their
// line numbers and counted, and that reading goes on after them.
func TestReaderSkipsBadLines(t *testing.T) {
	good := `{"flow":{"time":"2024-01-02T03:04:05Z","verdict":"FORWARDED"}}`
	huge := `{"flow":{"time":"2024-01-02T03:04:05Z","uuid":"` + strings.Repeat("x", MaxLineSize) + `"}}`
	input := strings.Join([]string{good, "not json", "", huge, `{"lost_events":{}}`, good, `{"flow":` /* cut */, good}, "\n")
	invalid0 := testutil.ToFloat64(linesRead.WithLabelValues(ResultInvalid))
	large0 := testutil.ToFloat64(linesRead.WithLabelValues(ResultTooLarge))
	notFlow0 := testutil.ToFloat64(linesRead.WithLabelValues(ResultNotFlow))
	flows0 := testutil.ToFloat64(linesRead.WithLabelValues(ResultFlow))

	r := NewReader(strings.NewReader(input)) // the last line has no newline
	var flows int
	var badLines []int
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			badLines = append(badLines, le.Line)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Verdict != VerdictForwarded {
			t.Errorf("flow %+v", f)
		}
		flows++
	}
	if flows != 3 {
		t.Errorf("%d flows, want 3", flows)
	}
	if want := []int{2, 4, 7}; !equalInts(badLines, want) {
		t.Errorf("bad lines %v, want %v", badLines, want)
	}
	for _, c := range []struct {
		result string
		before float64
		want   float64
	}{{ResultInvalid, invalid0, 2}, {ResultTooLarge, large0, 1}, {ResultNotFlow, notFlow0, 1}, {ResultFlow, flows0, 3}} {
		if got := testutil.ToFloat64(linesRead.WithLabelValues(c.result)) - c.before; got != c.want {
			t.Errorf("kubeward_flow_hubble_lines_total{result=%q} rose by %v, want %v", c.result, got, c.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
