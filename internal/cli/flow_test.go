package cli

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/model"
)

// writeFlowCSV writes n labelled flows in the corrected CIC-IDS2017
// schema: benign flows with a large window and long durations, "scan"
// flows with a 1024-byte window and tiny durations.
func writeFlowCSV(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flows.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := flow.NewWriter(f, "csv")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range n {
		r := flow.Record{ID: int64(i), SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"),
			SrcPort: 40000, DstPort: 80, Protocol: flow.ProtoTCP, StartMicros: 1_500_000_000_000_000 + int64(i)*1000, AttemptedCategory: -1}
		r.Label = model.DefaultBenign
		r.Values[flow.FlowDuration] = 1e6 + rng.Float64()*1e6
		r.Values[flow.FwdInitWinBytes] = 29200
		if i%3 == 0 {
			r.Label = "scan"
			r.Values[flow.FlowDuration] = rng.Float64() * 50
			r.Values[flow.FwdInitWinBytes] = 1024
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every algorithm trains through `kubeward flow train --model`, writes a
// model file that records it, and classifies the training flows back.
func TestFlowTrainClassifyEveryAlgorithm(t *testing.T) {
	data := writeFlowCSV(t, 300)
	for _, alg := range model.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "model.json")
			if _, _, code := runCLI(t, "flow", "train", "--model", alg, "--epochs", "10", "--rounds", "20", "--trees", "10", "--model-file", file, data); code != ExitOK {
				t.Fatalf("train exit %d", code)
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(bufio.NewReader(f))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if m.Algorithm != alg || m.Training.Rows != 300 {
				t.Errorf("model file algorithm %q rows %d, want %q 300", m.Algorithm, m.Training.Rows, alg)
			}
			out, _, code := runCLI(t, "flow", "classify", "--model", file, data)
			if code != ExitFindings {
				t.Fatalf("classify exit %d, want %d (scan flows raise alerts)", code, ExitFindings)
			}
			scans := 0
			for line := range strings.Lines(out) {
				var v struct {
					Label   string
					Verdict model.Verdict
				}
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("classify output line %q: %v", line, err)
				}
				if v.Label == "scan" && v.Verdict.Class == "scan" {
					scans++
				}
			}
			if scans < 95 {
				t.Errorf("%d of 100 scan flows classified as scan", scans)
			}
		})
	}
	if _, _, code := runCLI(t, "flow", "train", "--model", "svm", "--model-file", filepath.Join(t.TempDir(), "m.json"), data); code != ExitError {
		t.Errorf("unknown algorithm: exit %d, want %d", code, ExitError)
	}
}

func TestFlowEvalTuneReportsConfusion(t *testing.T) {
	data := writeFlowCSV(t, 300)
	out, _, code := runCLI(t, "flow", "eval", "--model", model.AlgorithmBoosting, "--rounds", "10", "--tune", "2", data)
	if code != ExitOK {
		t.Fatalf("eval exit %d", code)
	}
	for _, want := range []string{"cross-validated", "chosen", "confusion", "macro-F1"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval report lacks %q:\n%s", want, out)
		}
	}
}

// A subcommand registered by another file joins `kubeward flow`.
func TestRegisterFlowSubcommand(t *testing.T) {
	saved := flowSubcommands
	t.Cleanup(func() { flowSubcommands = saved })
	registerFlowSubcommand(func(app *App) *cobra.Command {
		return &cobra.Command{Use: "probe", RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write([]byte("probe ran"))
			return err
		}}
	})
	if out, _, code := runCLI(t, "flow", "probe"); code != ExitOK || !strings.Contains(out, "probe ran") {
		t.Errorf("flow probe: exit %d output %q", code, out)
	}
}
