package cli

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/flow/hubble/hubbletest"
)

// writeHubbleScenario writes two minutes of benign Hubble flows from four
// pods, plus a SYN flood from the first pod in the last window when
// attack is set, and returns the file.
func writeHubbleScenario(t *testing.T, attack bool, extra string) (string, hubbletest.Endpoint) {
	t.Helper()
	return writeHubbleFlows(t, 2*time.Minute, attack, extra)
}

// writeHubbleFlows is writeHubbleScenario with benign flows for d (at
// least two minutes); flows after the SYN flood close its window even
// when the file is followed rather than read to its end.
func writeHubbleFlows(t *testing.T, d time.Duration, attack bool, extra string) (string, hubbletest.Endpoint) {
	t.Helper()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := hubbletest.NewCluster(4)
	g := hubbletest.NewWriter()
	g.Benign(rand.New(rand.NewPCG(7, 8)), c, start, d)
	if attack {
		g.SYNFlood(c.Clients[0], c.Services[0], 8080, start.Add(110*time.Second), 10*time.Second, 200)
	}
	path := filepath.Join(t.TempDir(), "flows.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, c.Clients[0]
}

func TestFlowHubble(t *testing.T) {
	attackFile, attacker := writeHubbleScenario(t, true, "this is not JSON\n")
	benignFile, _ := writeHubbleScenario(t, false, "")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		check      func(t *testing.T, out, errOut string)
		wantErrOut string
	}{
		{
			name:     "SYN flood as JSON lines",
			args:     []string{"flow", "hubble", "-o", "json", attackFile},
			wantCode: 1,
			check: func(t *testing.T, out, _ string) {
				lines := nonEmpty(out)
				if len(lines) != 1 {
					t.Fatalf("%d lines, want one anomaly:\n%s", len(lines), out)
				}
				var got struct {
					Type    string `json:"type"`
					Anomaly struct {
						Class  string `json:"class"`
						Window struct {
							Namespace string `json:"namespace"`
							Pod       string `json:"pod"`
						} `json:"window"`
					} `json:"anomaly"`
				}
				if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
					t.Fatal(err)
				}
				if got.Type != "anomaly" || got.Anomaly.Class != "SYNFlood" || got.Anomaly.Window.Pod != attacker.Pod || got.Anomaly.Window.Namespace != attacker.Namespace {
					t.Errorf("got %+v", got)
				}
			},
			wantErrOut: "line 1: hubble: not a JSON object",
		},
		{
			name:     "benign as a table",
			args:     []string{"flow", "hubble", benignFile},
			wantCode: 0,
			check: func(t *testing.T, out, _ string) {
				lines := nonEmpty(out)
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "WINDOW") {
					t.Errorf("want only the table header, got:\n%s", out)
				}
			},
		},
		{
			name:     "every window",
			args:     []string{"flow", "hubble", "--windows", "-o", "json", benignFile},
			wantCode: 0,
			check: func(t *testing.T, out, _ string) {
				lines := nonEmpty(out)
				if len(lines) != 12*4 {
					t.Errorf("%d windows printed, want 48 (12 windows × 4 pods)", len(lines))
				}
				for _, l := range lines {
					if !strings.Contains(l, `"type":"window"`) || !strings.Contains(l, `"new_conn_per_s"`) {
						t.Fatalf("not a window line: %s", l)
					}
				}
			},
		},
		{
			name:     "above a raised SYN flood threshold the baseline still catches the flood",
			args:     []string{"flow", "hubble", "--syn-flood-rate", "1000", attackFile},
			wantCode: 1,
			check: func(t *testing.T, out, _ string) {
				lines := nonEmpty(out)
				if len(lines) != 2 || !strings.Contains(lines[1], "BaselineDeviation") || !strings.Contains(lines[1], attacker.Pod) || !strings.Contains(lines[1], "new_conn_per_s") {
					t.Errorf("want one baseline deviation of %s, got:\n%s", attacker.Pod, out)
				}
			},
		},
		{
			name:       "missing file",
			args:       []string{"flow", "hubble", filepath.Join(t.TempDir(), "nope.jsonl")},
			wantCode:   2,
			wantErrOut: "open Hubble flows",
		},
		{
			name:       "bad output format",
			args:       []string{"flow", "hubble", "-o", "sarif", benignFile},
			wantCode:   2,
			wantErrOut: "want one of table, json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if tt.wantErrOut != "" && !strings.Contains(errOut, tt.wantErrOut) {
				t.Errorf("stderr does not mention %q:\n%s", tt.wantErrOut, errOut)
			}
			if tt.check != nil {
				tt.check(t, out, errOut)
			}
		})
	}
}

func nonEmpty(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestFlowHubbleStdin reads the flows from standard input ("-"), as
// `hubble observe -f -o json | kubeward flow hubble -` does.
func TestFlowHubbleStdin(t *testing.T) {
	path, attacker := writeHubbleScenario(t, true, "")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	out, errOut, code := runCLI(t, "flow", "hubble", "-")
	if code != 1 {
		t.Fatalf("exit code %d, want 1\n%s\n%s", code, out, errOut)
	}
	lines := nonEmpty(out)
	if len(lines) != 2 || !strings.Contains(lines[1], "SYNFlood") || !strings.Contains(lines[1], attacker.Pod) {
		t.Errorf("want one SYN flood of %s, got:\n%s", attacker.Pod, out)
	}
}
