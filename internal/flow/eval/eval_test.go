package eval

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/flow"
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
