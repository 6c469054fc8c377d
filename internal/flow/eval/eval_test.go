package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/clstm"
	"github.com/kubeward/kubeward/internal/flow/model"
)

func TestStratified(t *testing.T) {
	var labels []string
	for i := range 1000 {
		switch {
		case i%10 == 0:
			labels = append(labels, "attack")
		case i == 5:
			labels = append(labels, "rare") // one row: never tested
		default:
			labels = append(labels, "benign")
		}
	}
	s := Stratified(labels, 0.3, 7)
	if len(s.Train)+len(s.Test) != len(labels) {
		t.Fatalf("%d+%d rows, want %d", len(s.Train), len(s.Test), len(labels))
	}
	seen := map[int]bool{}
	count := map[string]int{}
	for _, i := range s.Test {
		seen[i] = true
		count[labels[i]]++
	}
	for _, i := range s.Train {
		if seen[i] {
			t.Fatalf("row %d in both sets", i)
		}
	}
	if count["attack"] != 30 || count["benign"] != 270 || count["rare"] != 0 {
		t.Errorf("test counts %v, want attack 30, benign 270, rare 0", count)
	}
	again := Stratified(labels, 0.3, 7)
	if !equal(again.Test, s.Test) {
		t.Error("same seed, different split")
	}
	if other := Stratified(labels, 0.3, 8); equal(other.Test, s.Test) {
		t.Error("different seed, same split")
	}
}

func equal(a, b []int) bool {
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

func TestTimeOrdered(t *testing.T) {
	times := []int64{50, 10, 40, 20, 30, 60, 70, 80, 90, 0}
	s := TimeOrdered(times, 0.3)
	for _, tr := range s.Train {
		for _, te := range s.Test {
			if times[tr] > times[te] {
				t.Fatalf("train row at %d after test row at %d", times[tr], times[te])
			}
		}
	}
	if len(s.Test) != 3 {
		t.Errorf("%d test rows, want 3", len(s.Test))
	}
}

// TestScore checks metrics against a confusion matrix computed by hand:
// classes B(enign), X, Y; truth/pred pairs:
// B→B ×3, B→X ×1, X→X ×2, X→B ×1, Y→Y ×1, Y→X ×1.
func TestScore(t *testing.T) {
	classes := []string{"B", "X", "Y"}
	truth := []int{0, 0, 0, 0, 1, 1, 1, 2, 2}
	pred := []int{0, 0, 0, 1, 1, 1, 0, 2, 1}
	alert := []bool{false, false, true, true, true, true, false, true, true}
	s := Score(classes, 0, truth, pred, alert)
	// B: tp 3, fp 1, fn 1 → P 0.75 R 0.75. X: tp 2, fp 2, fn 1 → P .5 R 2/3.
	// Y: tp 1, fp 0, fn 1 → P 1 R .5.
	want := map[string][3]float64{"B": {0.75, 0.75, 0.75}, "X": {0.5, 2.0 / 3, 4.0 / 7}, "Y": {1, 0.5, 2.0 / 3}}
	var macro float64
	for _, c := range s.Classes {
		w := want[c.Class]
		if !near(c.Precision, w[0]) || !near(c.Recall, w[1]) || !near(c.F1, w[2]) {
			t.Errorf("%s: P %.4f R %.4f F1 %.4f, want %v", c.Class, c.Precision, c.Recall, c.F1, w)
		}
		macro += w[2] / 3
	}
	if !near(s.MacroF1, macro) || !near(s.Accuracy, 6.0/9) {
		t.Errorf("macro-F1 %.4f accuracy %.4f, want %.4f %.4f", s.MacroF1, s.Accuracy, macro, 6.0/9)
	}
	// Argmax binary: attacks (truth X/Y, 5 rows) flagged when pred != B: 4;
	// benign flagged: 1 of 4.
	if !near(s.Argmax.Recall, 0.8) || !near(s.Argmax.Precision, 0.8) || !near(s.Argmax.BenignFPR, 0.25) {
		t.Errorf("argmax binary %+v, want recall .8 precision .8 FPR .25", s.Argmax)
	}
	// Alert binary: attacks flagged 4 of 5; benign flagged 2 of 4.
	if !near(s.Alert.Recall, 0.8) || !near(s.Alert.BenignFPR, 0.5) || !near(s.Alert.Precision, 4.0/6) {
		t.Errorf("alert binary %+v", s.Alert)
	}
	wantCM := [][]int{{3, 1, 0}, {1, 2, 0}, {0, 1, 1}}
	if !slices.Equal(s.Labels, classes) || len(s.Confusion) != 3 {
		t.Fatalf("confusion labels %v rows %d, want %v", s.Labels, len(s.Confusion), classes)
	}
	for i := range wantCM {
		if !slices.Equal(s.Confusion[i], wantCM[i]) {
			t.Errorf("confusion = %v, want %v", s.Confusion, wantCM)
			break
		}
	}
}

// Classes that are neither tested nor predicted are left out of the
// confusion matrix as of the macro average.
func TestScoreConfusionSkipsAbsentClasses(t *testing.T) {
	s := Score([]string{"B", "unused", "X"}, 0, []int{0, 2, 2}, []int{0, 0, 2}, []bool{false, false, true})
	if !slices.Equal(s.Labels, []string{"B", "X"}) || !slices.Equal(s.Confusion[0], []int{1, 0}) || !slices.Equal(s.Confusion[1], []int{1, 1}) {
		t.Errorf("labels %v confusion %v, want [B X] [[1 0] [1 1]]", s.Labels, s.Confusion)
	}
	var b bytes.Buffer
	if err := (&Report{Scores: &s}).WriteText(&b); err != nil || !strings.Contains(b.String(), "1 X") || strings.Contains(b.String(), "unused") {
		t.Errorf("text report: %v\n%s", err, b.String())
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// records makes a small labelled set: benign and two attack kinds that
// differ in window size and duration.
func records(n int) []flow.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	labels := []string{"BENIGN", "BENIGN", "scan", "flood"}
	var recs []flow.Record
	for i := range n {
		r := flow.Record{SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"), Protocol: 6, StartMicros: int64(i)}
		r.Label = labels[i%len(labels)]
		for j := range r.Values {
			r.Values[j] = rng.Float64()
		}
		switch r.Label {
		case "scan":
			r.Values[flow.FwdInitWinBytes] = 1024
			r.Values[flow.FlowDuration] = 40
		case "flood":
			r.Values[flow.FwdInitWinBytes] = 512
			r.Values[flow.FlowDuration] = 1e5
		default:
			r.Values[flow.FwdInitWinBytes] = 29200
			r.Values[flow.FlowDuration] = 1e7 * rng.Float64()
		}
		recs = append(recs, r)
	}
	return recs
}

func TestRunProtocols(t *testing.T) {
	recs := records(400)
	train := model.TrainConfig{Seed: 3, Forest: model.ForestParams{Trees: 10}, Isolation: model.IsolationParams{Trees: 20}}
	for _, p := range []string{ProtocolStratified, ProtocolTimeOrdered, ProtocolLeaveOneOut} {
		t.Run(p, func(t *testing.T) {
			rep, err := Run(context.Background(), recs, Config{Protocol: p, Train: train})
			if err != nil {
				t.Fatal(err)
			}
			switch p {
			case ProtocolLeaveOneOut:
				if len(rep.HeldOut) != 2 || len(rep.TrainSeconds) != 2 {
					t.Fatalf("held out %v, want scan and flood", rep.HeldOut)
				}
			default:
				if rep.Scores == nil || rep.Scores.Rows != 120 || rep.Scores.MacroF1 < 0.9 {
					t.Errorf("scores %+v, want 120 test rows, macro-F1 ≥ 0.9 on separable classes", rep.Scores)
				}
			}
			var b bytes.Buffer
			if err := rep.WriteText(&b); err != nil || !strings.Contains(b.String(), p) {
				t.Errorf("text report: %v\n%s", err, b.String())
			}
		})
	}
	if _, err := Run(context.Background(), recs, Config{Protocol: "k-fold", Train: train}); err == nil {
		t.Error("unknown protocol accepted")
	}
}

// Every algorithm runs through the evaluation deterministically. The
// features are the two that separate the classes and one noise column:
// on 250 training rows the network would otherwise fit the noise of the
// fixture's 80 random columns.
func TestRunEveryAlgorithm(t *testing.T) {
	recs := records(400)
	for _, alg := range model.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			train := model.TrainConfig{Algorithm: alg, Seed: 3, Features: []string{"FWD Init Win Bytes", "Flow Duration", "Flow IAT Mean"}, Forest: model.ForestParams{Trees: 10}, Isolation: model.IsolationParams{Trees: 20},
				Boost: model.BoostParams{Rounds: 20, MaxDepth: 3}, CLSTM: clstm.Config{Window: 3, Kernel: 1, Filters: 8, Hidden: 8, Epochs: 15, BatchSize: 16, LearningRate: 0.01}}
			var out [2][]byte
			for i := range out {
				rep, err := Run(context.Background(), recs, Config{Protocol: ProtocolStratified, Train: train})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Scores.MacroF1 < 0.9 {
					t.Errorf("macro-F1 %.3f on separable classes, want ≥ 0.9", rep.Scores.MacroF1)
				}
				rep.TrainSeconds = nil
				if out[i], err = json.Marshal(rep); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out[0], out[1]) {
				t.Error("two evaluations with the same seed differ")
			}
		})
	}
}

// Tuning sees the training rows only and picks the candidate with the
// best cross-validated macro-F1: here one that may use the feature that
// separates the classes against one that may not.
func TestTunePicksTheBetterCandidate(t *testing.T) {
	recs := records(300)
	base := model.TrainConfig{Seed: 1, Forest: model.ForestParams{Trees: 10}, Isolation: model.IsolationParams{Trees: 10}}
	blind, informed := base, base
	blind.Features = []string{"Flow IAT Mean", "Bwd IAT Std"}
	informed.Features = []string{"Flow IAT Mean", "FWD Init Win Bytes"}
	res, best, err := Tune(context.Background(), recs, []Candidate{{"blind", blind}, {"informed", informed}}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if best != 1 || len(res) != 2 || len(res[1].FoldMacroF1) != 3 || res[1].MeanMacroF1 < 0.95 || res[0].MeanMacroF1 > 0.8 {
		t.Errorf("best %d, results %+v: want the informed candidate (≥ 0.95) over the blind one", best, res)
	}
	rep, err := Run(context.Background(), recs, Config{Protocol: ProtocolStratified, Train: base,
		Candidates: []Candidate{{"blind", blind}, {"informed", informed}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Chosen != "informed" || len(rep.Tuning) != 2 {
		t.Errorf("chosen %q tuning %+v", rep.Chosen, rep.Tuning)
	}
	if _, _, err := Tune(context.Background(), recs, nil, 3, 1); err == nil {
		t.Error("no candidates accepted")
	}
	if _, _, err := Tune(context.Background(), recs, []Candidate{{"a", base}}, 1, 1); err == nil {
		t.Error("one fold accepted")
	}
}

func TestGrid(t *testing.T) {
	tests := []struct {
		algorithm string
		want      int
	}{{model.AlgorithmBoosting, 4}, {model.AlgorithmCLSTM, 4}, {model.AlgorithmForest, 2}}
	for _, tc := range tests {
		g := Grid(model.TrainConfig{Algorithm: tc.algorithm, Seed: 9})
		names := map[string]bool{}
		for _, c := range g {
			names[c.Name] = true
			if c.Train.Algorithm != tc.algorithm || c.Train.Seed != 9 {
				t.Errorf("%s: candidate %q changed algorithm or seed: %+v", tc.algorithm, c.Name, c.Train)
			}
		}
		if len(g) != tc.want || len(names) != tc.want {
			t.Errorf("%s: %d candidates (%d names), want %d distinct", tc.algorithm, len(g), len(names), tc.want)
		}
	}
}
