package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/clstm"
)

// synthetic builds flows of three classes that differ in known features:
// BENIGN has long durations, "scan" single-packet flows with a 1024 window,
// "flood" many packets with tiny IATs. Noise features are random.
func synthetic(n int, seed uint64) []flow.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	var recs []flow.Record
	for i := range n {
		var r flow.Record
		r.SrcIP, r.DstIP = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		r.Protocol = flow.ProtoTCP
		r.StartMicros = int64(i)
		for j := range r.Values {
			r.Values[j] = rng.Float64() * 100
		}
		switch i % 3 {
		case 0:
			r.Label = DefaultBenign
			r.Values[flow.FlowDuration] = 1e6 + rng.Float64()*1e7
			r.Values[flow.FwdInitWinBytes] = 29200
			r.Values[flow.TotalFwdPackets] = 5 + float64(rng.IntN(20))
		case 1:
			r.Label = "scan"
			r.Values[flow.FlowDuration] = rng.Float64() * 100
			r.Values[flow.FwdInitWinBytes] = 1024
			r.Values[flow.TotalFwdPackets] = 1
		case 2:
			r.Label = "flood"
			r.Values[flow.FlowDuration] = 1e5 + rng.Float64()*1e5
			r.Values[flow.FwdInitWinBytes] = 512
			r.Values[flow.TotalFwdPackets] = 1000 + float64(rng.IntN(1000))
		}
		recs = append(recs, r)
	}
	return recs
}

func fixedNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func trainSmall(t *testing.T, recs []flow.Record, seed uint64) *Model {
	t.Helper()
	return trainAlgorithm(t, AlgorithmForest, recs, seed)
}

// smallConfig is a quick configuration of each algorithm for tests.
func smallConfig(algorithm string, seed uint64) TrainConfig {
	return TrainConfig{Algorithm: algorithm, Seed: seed, Now: fixedNow, DataSHA256: "abc",
		Forest: ForestParams{Trees: 20}, Isolation: IsolationParams{Trees: 50},
		Boost: BoostParams{Rounds: 30, MaxDepth: 3}, CLSTM: clstm.Config{Window: 4, Filters: 8, Hidden: 8, Epochs: 20, BatchSize: 16, LearningRate: 0.01}}
}

func trainAlgorithm(t testing.TB, algorithm string, recs []flow.Record, seed uint64) *Model {
	t.Helper()
	m, err := Train(context.Background(), recs, smallConfig(algorithm, seed))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTrainClassifiesSeparableClasses(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			m := trainAlgorithm(t, alg, synthetic(600, 1), 1)
			test := synthetic(300, 2)
			wrong := 0
			for i := range test {
				v := m.Classify(&test[i])
				if v.Class != test[i].Label {
					wrong++
					t.Logf("flow %d (%s): %+v", i, test[i].Label, v)
				}
				if test[i].Label != DefaultBenign && !v.Alert {
					t.Errorf("attack flow %d (%s) raised no alert: %+v", i, test[i].Label, v)
				}
			}
			// The network fits 80 noise features of 600 flows a little:
			// it may miss 2% instead of the trees' 1%.
			maxWrong := 3
			if alg == AlgorithmCLSTM {
				maxWrong = 6
			}
			if wrong > maxWrong {
				t.Errorf("%d of %d separable flows misclassified, want at most %d", wrong, len(test), maxWrong)
			}
			if m.Algorithm != alg || m.Training.Algorithm != alg || m.Training.Rows != 600 || m.Training.ClassCounts["scan"] != 200 || m.Training.Seed != 1 || m.Training.DataSHA256 != "abc" {
				t.Errorf("algorithm %q, metadata = %+v", m.Algorithm, m.Training)
			}
		})
	}
}

// Boosting with early stopping keeps only the rounds that improved the
// validation loss, and class weighting changes the model.
func TestBoostingOptions(t *testing.T) {
	recs := synthetic(600, 1)
	cfg := smallConfig(AlgorithmBoosting, 1)
	cfg.Boost.Rounds, cfg.Boost.EarlyStop = 200, 3
	m, err := Train(context.Background(), recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Boosted.Rounds(); r < 1 || r >= 200 || m.Training.BoostRounds != r {
		t.Errorf("%d rounds kept (metadata %d) of 200 on separable data: want early stopping", r, m.Training.BoostRounds)
	}
	skewed := recs[:0:0]
	for i, r := range recs {
		if r.Label != "scan" || i%30 == 1 {
			skewed = append(skewed, r)
		}
	}
	cfg.Boost.BalancedClasses = false
	plain, err := Train(context.Background(), skewed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Boost.BalancedClasses = true
	balanced, err := Train(context.Background(), skewed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	scan := slices.Index(plain.Classes, "scan")
	if balanced.Boosted.Init[scan] <= plain.Boosted.Init[scan] {
		t.Errorf("balanced prior of the rare class %.3f, unweighted %.3f: want it raised", balanced.Boosted.Init[scan], plain.Boosted.Init[scan])
	}
}

// An anomaly: a benign-looking forest verdict but extreme values in
// features benign traffic never showed.
func TestIsolationForestFlagsNovelTraffic(t *testing.T) {
	m := trainSmall(t, synthetic(600, 1), 1)
	benign := synthetic(3, 9)[0]
	novel := benign
	for j := range novel.Values {
		novel.Values[j] = 1e9
	}
	vb, vn := m.Classify(&benign), m.Classify(&novel)
	if vn.Anomaly <= vb.Anomaly || vn.Anomaly <= m.Thresholds.Anomaly {
		t.Errorf("novel flow anomaly %.3f, benign %.3f, threshold %.3f: want novel above both", vn.Anomaly, vb.Anomaly, m.Thresholds.Anomaly)
	}
	if !vn.Alert {
		t.Errorf("novel flow raised no alert: %+v", vn)
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	recs := synthetic(300, 3)
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			var out [2]bytes.Buffer
			for i := range out {
				m := trainAlgorithm(t, alg, recs, 42)
				m.Training.Duration = ""
				if err := m.Save(&out[i]); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
				t.Error("two trainings with the same seed differ")
			}
			other := trainAlgorithm(t, alg, recs, 43)
			other.Training.Duration, other.Training.Seed = "", 42
			var b bytes.Buffer
			if err := other.Save(&b); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(b.Bytes(), out[0].Bytes()) {
				t.Error("a different seed gave the same model")
			}
		})
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			m := trainAlgorithm(t, alg, synthetic(300, 4), 1)
			var b bytes.Buffer
			if err := m.Save(&b); err != nil {
				t.Fatal(err)
			}
			l, err := Load(&b)
			if err != nil {
				t.Fatal(err)
			}
			// Both start with an empty window, so a CLSTM sees the same
			// history in both.
			for _, r := range synthetic(60, 5) {
				if got, want := l.Classify(&r), m.Classify(&r); got != want {
					t.Fatalf("loaded model says %+v, trained model %+v", got, want)
				}
			}
		})
	}
}

// PredictAll of a CLSTM model judges the rows as one sequence, exactly
// as Classify does flow by flow.
func TestCLSTMPredictAllMatchesClassify(t *testing.T) {
	recs := synthetic(300, 4)
	m := trainAlgorithm(t, AlgorithmCLSTM, recs, 1)
	test := synthetic(40, 6)
	probs, anomaly := m.PredictAll(m.Schema().MatrixOf(test), 0)
	for i := range test {
		got := m.Classify(&test[i])
		want := m.Decide(probs.Row(i), anomaly[i])
		if got.Class != want.Class || math.Abs(got.Probability-want.Probability) > 1e-12 || got.Anomaly != want.Anomaly {
			t.Fatalf("flow %d: Classify %+v, PredictAll %+v", i, got, want)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	m := trainSmall(t, synthetic(150, 6), 1)
	var b bytes.Buffer
	if err := m.Save(&b); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	mutate := func(f func(map[string]any)) []byte {
		var v map[string]any
		if err := json.Unmarshal(good, &v); err != nil {
			t.Fatal(err)
		}
		f(v)
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tree := func(v map[string]any) map[string]any {
		return v["forest"].(map[string]any)["trees"].([]any)[0].(map[string]any)
	}
	tests := []struct {
		name, want string
		in         []byte
	}{
		{"not json", "invalid", []byte("{")},
		{"other format", "format", mutate(func(v map[string]any) { v["format"] = "onnx" })},
		{"other version", "version 2", mutate(func(v map[string]any) { v["version"] = 2 })},
		{"unknown feature", "not a column", mutate(func(v map[string]any) { v["features"].([]any)[3] = "Src IP" })},
		{"fewer features than scaler", "scaler", mutate(func(v map[string]any) { v["features"] = v["features"].([]any)[:5] })},
		{"no benign class", "benign", mutate(func(v map[string]any) { v["benign"] = "normal" })},
		{"cyclic tree", "children", mutate(func(v map[string]any) {
			tree(v)["nodes"].([]any)[0].(map[string]any)["c"] = 0
		})},
		{"feature out of range", "feature", mutate(func(v map[string]any) {
			tree(v)["nodes"].([]any)[0].(map[string]any)["f"] = 500
		})},
		{"unknown algorithm", "algorithm", mutate(func(v map[string]any) { v["algorithm"] = "svm" })},
		{"boosting without trees", "boosted trees missing", mutate(func(v map[string]any) { v["algorithm"] = AlgorithmBoosting })},
		{"clstm without network", "clstm network missing", mutate(func(v map[string]any) { v["algorithm"] = AlgorithmCLSTM })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(bytes.NewReader(tc.in))
			if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error %v, want ErrBadModel mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCheckColumns(t *testing.T) {
	m := trainSmall(t, synthetic(150, 6), 1)
	if err := m.CheckColumns(flow.Header()); err != nil {
		t.Errorf("full header rejected: %v", err)
	}
	if err := m.CheckColumns(flow.Header()[:20]); err == nil {
		t.Error("truncated header accepted")
	}
}

func TestTrainErrors(t *testing.T) {
	recs := synthetic(30, 1)
	var attacks []flow.Record
	for _, r := range recs {
		if r.Label != DefaultBenign {
			attacks = append(attacks, r)
		}
	}
	if _, err := Train(context.Background(), attacks, TrainConfig{}); err == nil || !strings.Contains(err.Error(), "benign") {
		t.Errorf("training without benign rows: %v", err)
	}
	if _, err := Train(context.Background(), recs, TrainConfig{Features: []string{"Src IP"}}); err == nil {
		t.Error("identifier accepted as a feature")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, recs, TrainConfig{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled training: %v", err)
	}
}

func TestSchemaVector(t *testing.T) {
	s, err := NewSchema([]string{FeatureProtocol, FeatureDstPort, "Flow Duration", "Flow Bytes/s"})
	if err != nil {
		t.Fatal(err)
	}
	r := flow.Record{Protocol: 17, DstPort: 53}
	r.Values[flow.FlowDuration] = 12
	r.Values[flow.FlowBytesPerSec] = 1e300 // as "Infinity" in some CSVs: clamped
	got := s.Vector(&r, nil)
	want := []float64{17, 53, 12, clampAbs}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("vector = %v, want %v", got, want)
			break
		}
	}
	if _, err := NewSchema([]string{"Flow Duration", "Flow Duration"}); err == nil {
		t.Error("duplicate feature accepted")
	}
}

// Structural damage to boosted and CLSTM models is refused at load.
func TestLoadRejectsBrokenBoostedAndCLSTM(t *testing.T) {
	recs := synthetic(150, 6)
	tests := []struct {
		name, algorithm, want string
		mutate                func(*Model)
	}{
		{"boosted trees not a multiple of classes", AlgorithmBoosting, "boosted trees missing", func(m *Model) { m.Boosted.Trees = m.Boosted.Trees[:1] }},
		{"boosted leaf offset", AlgorithmBoosting, "leaf offset", func(m *Model) { m.Boosted.Trees[0].Leaves = nil }},
		{"boosted prior length", AlgorithmBoosting, "boosted trees missing", func(m *Model) { m.Boosted.Init = m.Boosted.Init[:1] }},
		{"clstm weights truncated", AlgorithmCLSTM, "parameter block", func(m *Model) { m.CLSTM.Wh = m.CLSTM.Wh[:3] }},
		{"clstm over other features", AlgorithmCLSTM, "clstm network missing", func(m *Model) { m.CLSTM.Inputs++ }},
		{"two classifiers", AlgorithmCLSTM, "clstm network missing", func(m *Model) { m.Forest = &Forest{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := trainAlgorithm(t, tc.algorithm, recs, 1)
			tc.mutate(m)
			var b bytes.Buffer
			if err := m.Save(&b); err != nil {
				t.Fatal(err)
			}
			_, err := Load(&b)
			if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error %v, want ErrBadModel mentioning %q", err, tc.want)
			}
		})
	}
}

// calibrate picks order statistics whose expected false-positive rate
// on new benign flows, k/(n+1) per score, stays within half the budget.
func TestCalibrate(t *testing.T) {
	ramp := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(n-i) / float64(n) // descending: calibrate sorts
		}
		return v
	}
	tests := []struct {
		name            string
		n               int
		fpr             float64
		wantProb, wantA float64
	}{
		// q = 0.005: ⌊0.005·3501⌋ = 17 → 17th smallest / 17th largest.
		{"many flows", 3500, 0.01, 17.0 / 3500, 3484.0 / 3500},
		// ⌊0.005·351⌋ = 1: the smallest probability, the largest score.
		{"few flows", 350, 0.01, 1.0 / 350, 1},
		// ⌊0.005·100⌋ = 0: the probability rule is off, the anomaly rule
		// keeps the largest score.
		{"too few flows", 99, 0.01, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := calibrate(ramp(tc.n), ramp(tc.n), tc.fpr)
			if math.Abs(got.BenignProbability-tc.wantProb) > 1e-12 || math.Abs(got.Anomaly-tc.wantA) > 1e-12 {
				t.Errorf("thresholds %+v, want probability %.6f anomaly %.6f", got, tc.wantProb, tc.wantA)
			}
		})
	}
}
