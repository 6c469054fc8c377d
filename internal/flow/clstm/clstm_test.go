package clstm

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGradientMatchesFiniteDifferences checks every analytic gradient
// entry of backward against central differences of the loss, on shapes
// that exercise several convolution steps, a non-square LSTM and
// class weights.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		batch int
	}{
		{"one step", Shape{Inputs: 3, Window: 2, Kernel: 2, Filters: 2, Hidden: 2, Classes: 2}, 2},
		{"several steps", Shape{Inputs: 4, Window: 5, Kernel: 2, Filters: 3, Hidden: 4, Classes: 3}, 3},
		{"kernel one", Shape{Inputs: 2, Window: 4, Kernel: 1, Filters: 5, Hidden: 3, Classes: 4}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			n, err := New(tc.shape, rng)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range n.params() {
				for i := range p {
					p[i] += 0.3 * (2*rng.Float64() - 1) // away from the initial symmetry
				}
			}
			tr := n.newTrace(tc.batch)
			for i := range tr.x {
				tr.x[i] = 2*rng.Float64() - 1
			}
			y := make([]int, tc.batch)
			w := make([]float64, tc.batch)
			for b := range y {
				y[b], w[b] = rng.IntN(tc.shape.Classes), 0.5+rng.Float64()
			}
			g := n.zeroLike()
			n.forward(tr)
			n.backward(tr, y, w, g)
			const h = 1e-6
			names := []string{"ConvW", "ConvB", "Wx", "Wh", "B", "OutW", "OutB"}
			checked := 0
			for k, p := range n.params() {
				grad := g.params()[k]
				for i := range p {
					orig := p[i]
					p[i] = orig + h
					n.forward(tr)
					up := n.loss(tr, y, w)
					p[i] = orig - h
					n.forward(tr)
					down := n.loss(tr, y, w)
					p[i] = orig
					num := (up - down) / (2 * h)
					if diff := math.Abs(num - grad[i]); diff > 1e-6*math.Max(1, math.Abs(num)) {
						t.Errorf("%s[%d]: analytic %.9g, numeric %.9g", names[k], i, grad[i], num)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no parameter checked")
			}
		})
	}
}

// sequence builds a time-ordered sequence where the class of a flow
// depends on the flows before it: class 1 when the previous flow's first
// feature was positive, class 2 when the flow itself has a large second
// feature, class 0 otherwise. Only a model that looks back can tell 0
// from 1.
func sequence(n int, seed uint64) *Sequence {
	rng := rand.New(rand.NewPCG(seed, 3))
	s := &Sequence{Features: 3}
	prev := -1.0
	for range n {
		row := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		label := 0
		switch {
		case row[1] > 1:
			label = 2
		case prev > 0:
			label = 1
		}
		prev = row[0]
		s.Rows = append(s.Rows, row...)
		s.Labels = append(s.Labels, label)
	}
	return s
}

func accuracy(t *testing.T, n *Network, s *Sequence) float64 {
	t.Helper()
	probs := make([]float64, s.Len()*n.Classes)
	if err := n.PredictSequence(s.Rows, probs); err != nil {
		t.Fatal(err)
	}
	right := 0
	for i, c := range s.Labels {
		best := 0
		for k := range n.Classes {
			if probs[i*n.Classes+k] > probs[i*n.Classes+best] {
				best = k
			}
		}
		if best == c {
			right++
		}
	}
	return float64(right) / float64(s.Len())
}

func TestTrainLearnsFromPreviousFlows(t *testing.T) {
	train, val, test := sequence(3000, 1), sequence(500, 2), sequence(1000, 3)
	cfg := Config{Window: 3, Kernel: 2, Filters: 8, Hidden: 8, Epochs: 10, BatchSize: 32, LearningRate: 0.01}
	n, err := Train(context.Background(), train, val, 3, cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Without memory the best rule gets about 1-0.5·0.84 ≈ 58% (class
	// 1 and 0 are indistinguishable from the current flow alone).
	if acc := accuracy(t, n, test); acc < 0.95 {
		t.Errorf("test accuracy %.3f, want ≥ 0.95 (the label depends on the previous flow)", acc)
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	train := sequence(400, 4)
	cfg := Config{Window: 4, Kernel: 2, Filters: 4, Hidden: 4, Epochs: 2, BatchSize: 16}
	var out [3][]byte
	for i, seed := range []uint64{5, 5, 6} {
		n, err := Train(context.Background(), train, nil, 3, cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		out[i], err = json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Error("two trainings with the same seed differ")
	}
	if bytes.Equal(out[0], out[2]) {
		t.Error("trainings with different seeds are identical")
	}
}

// The stream must give the same probabilities as the batch prediction of
// the same sequence, padding included.
func TestStreamMatchesPredictSequence(t *testing.T) {
	s := sequence(50, 8)
	n, err := Train(context.Background(), s, nil, 3, Config{Window: 5, Kernel: 3, Filters: 4, Hidden: 4, Epochs: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, s.Len()*3)
	if err := n.PredictSequence(s.Rows, want); err != nil {
		t.Fatal(err)
	}
	st := n.NewStream()
	got := make([]float64, 3)
	for i := range s.Len() {
		if err := st.Next(s.Rows[i*3:(i+1)*3], got); err != nil {
			t.Fatal(err)
		}
		for k := range got {
			if math.Abs(got[k]-want[i*3+k]) > 1e-12 {
				t.Fatalf("flow %d class %d: stream %.15g, batch %.15g", i, k, got[k], want[i*3+k])
			}
		}
	}
}

func TestValidateRejectsBrokenNetworks(t *testing.T) {
	n, err := New(Shape{Inputs: 2, Window: 3, Kernel: 2, Filters: 2, Hidden: 2, Classes: 2}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Validate(); err != nil {
		t.Fatalf("fresh network: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Network)
	}{
		{"short weights", func(n *Network) { n.Wh = n.Wh[:1] }},
		{"kernel wider than window", func(n *Network) { n.Kernel = 4 }},
		{"NaN weight", func(n *Network) { n.OutB[0] = math.NaN() }},
		{"zero scale", func(n *Network) { n.Std[1] = 0 }},
		{"one class", func(n *Network) { n.Classes = 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := n.clone()
			tc.mutate(c)
			if err := c.Validate(); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestBadInputIsAnError(t *testing.T) {
	s := sequence(10, 1)
	if _, err := Train(context.Background(), s, nil, 2, Config{}, 1); err == nil {
		t.Error("label 2 with 2 classes accepted")
	}
	s.Rows[4] = math.Inf(1)
	if _, err := Train(context.Background(), s, nil, 3, Config{}, 1); err == nil {
		t.Error("infinite feature accepted")
	}
	n, _ := New(Shape{Inputs: 3, Window: 2, Kernel: 1, Filters: 1, Hidden: 1, Classes: 3}, rand.New(rand.NewPCG(1, 1)))
	if err := n.PredictSequence(make([]float64, 5), make([]float64, 3)); err == nil {
		t.Error("ragged rows accepted")
	}
	if err := n.NewStream().Next(make([]float64, 2), make([]float64, 3)); err == nil {
		t.Error("short row accepted")
	}
}
