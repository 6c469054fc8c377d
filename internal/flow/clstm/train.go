package clstm

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
)

// Sequence is a time-ordered run of flows: Rows holds len(Labels) rows
// of Features values each, Labels their classes (0…Classes-1).
type Sequence struct {
	Features int
	Rows     []float64
	Labels   []int
}

// Len returns the number of flows.
func (s *Sequence) Len() int { return len(s.Labels) }

func (s *Sequence) check(classes int) error {
	if s.Features < 1 || len(s.Rows) != s.Len()*s.Features {
		return fmt.Errorf("clstm: sequence of %d values for %d flows of %d features", len(s.Rows), s.Len(), s.Features)
	}
	for _, c := range s.Labels {
		if c < 0 || c >= classes {
			return fmt.Errorf("clstm: label %d outside 0..%d", c, classes-1)
		}
	}
	for _, v := range s.Rows {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("clstm: sequence holds a non-finite value: scale the features first")
		}
	}
	return nil
}

// Config configures Train. Zero values take defaults.
type Config struct {
	// Window is the number of flows per window (default 4, chosen over 8
	// by cross-validation on the training part of the CIC-IDS2017
	// sample); Kernel the convolution width (default 3), Filters its
	// channels (default 32), Hidden the LSTM size (default 32).
	Window  int `json:"window"`
	Kernel  int `json:"kernel"`
	Filters int `json:"filters"`
	Hidden  int `json:"hidden"`
	// Epochs is the most passes over the training windows (default 8);
	// with validation data the epoch of least validation loss is kept.
	Epochs int `json:"epochs"`
	// BatchSize is the mini-batch size (default 64).
	BatchSize int `json:"batch_size"`
	// LearningRate is Adam's step size (default 0.002).
	LearningRate float64 `json:"learning_rate"`
	// BalancedClasses weights classes inversely to their frequency.
	BalancedClasses bool `json:"balanced_classes"`
	// Logger receives progress per epoch (default: discard).
	Logger *slog.Logger `json:"-"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Window, 4)
	def(&c.Kernel, 3)
	def(&c.Filters, 32)
	def(&c.Hidden, 32)
	def(&c.Epochs, 8)
	def(&c.BatchSize, 64)
	if c.LearningRate <= 0 {
		c.LearningRate = 0.002
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Train fits a network to the windows of train (the window ending at
// every flow, labelled with that flow's class). When val is not nil the
// parameters of the epoch with the least validation loss are returned.
// The result depends only on the data, cfg and seed.
func Train(ctx context.Context, train, val *Sequence, classes int, cfg Config, seed uint64) (*Network, error) {
	cfg = cfg.WithDefaults()
	if err := train.check(classes); err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	if train.Len() == 0 {
		return nil, fmt.Errorf("clstm: no training flows")
	}
	if val != nil {
		if err := val.check(classes); err != nil {
			return nil, fmt.Errorf("validation data: %w", err)
		}
		if val.Features != train.Features {
			return nil, fmt.Errorf("clstm: validation flows have %d features, training flows %d", val.Features, train.Features)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xc157))
	n, err := New(Shape{Inputs: train.Features, Window: cfg.Window, Kernel: min(cfg.Kernel, cfg.Window), Filters: cfg.Filters, Hidden: cfg.Hidden, Classes: classes}, rng)
	if err != nil {
		return nil, err
	}
	n.fitScaling(train)
	seq := make([]float64, len(train.Rows))
	n.standardise(train.Rows, seq)
	weights := make([]float64, classes)
	counts := make([]int, classes)
	for _, c := range train.Labels {
		counts[c]++
	}
	for c := range weights {
		weights[c] = 1
		if cfg.BalancedClasses && counts[c] > 0 {
			weights[c] = float64(train.Len()) / float64(classes*counts[c])
		}
	}
	opt := newAdam(n, cfg.LearningRate)
	order := make([]int, train.Len())
	for i := range order {
		order[i] = i
	}
	g := n.zeroLike()
	tr := n.newTrace(cfg.BatchSize)
	y, w := make([]int, cfg.BatchSize), make([]float64, cfg.BatchSize)
	best, bestLoss := n, math.Inf(1)
	for epoch := range cfg.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum float64
		for lo := 0; lo < len(order); lo += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("clstm: train: %w", err)
			}
			ends := order[lo:min(len(order), lo+cfg.BatchSize)]
			if len(ends) != tr.batch {
				tr = n.newTrace(len(ends))
			}
			for k, e := range ends {
				y[k], w[k] = train.Labels[e], weights[train.Labels[e]]
			}
			n.fillWindows(seq, ends, tr.x)
			n.forward(tr)
			sum += n.loss(tr, y[:len(ends)], w[:len(ends)]) * float64(len(ends))
			for _, p := range g.params() {
				clear(p)
			}
			n.backward(tr, y[:len(ends)], w[:len(ends)], g)
			opt.step(n, g)
		}
		attrs := []any{"epoch", epoch + 1, "train_loss", sum / float64(train.Len())}
		if val != nil {
			vl, err := n.Loss(val, weights)
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, "validation_loss", vl)
			if vl < bestLoss {
				bestLoss, best = vl, n.clone()
			}
		}
		cfg.Logger.Info("clstm epoch", attrs...)
	}
	if val == nil {
		return n, nil
	}
	return best, nil
}

// Loss returns the mean cross-entropy of the windows of s, each flow
// weighted by classWeights[label] (nil: all 1).
func (n *Network) Loss(s *Sequence, classWeights []float64) (float64, error) {
	if err := s.check(n.Classes); err != nil {
		return 0, err
	}
	probs := make([]float64, s.Len()*n.Classes)
	if err := n.PredictSequence(s.Rows, probs); err != nil {
		return 0, err
	}
	var l, sw float64
	for i, c := range s.Labels {
		wt := 1.0
		if classWeights != nil {
			wt = classWeights[c]
		}
		l -= wt * math.Log(max(probs[i*n.Classes+c], 1e-300))
		sw += wt
	}
	return l / sw, nil
}

// fitScaling sets Mean and Std to the training rows' moments.
func (n *Network) fitScaling(s *Sequence) {
	F, N := s.Features, float64(s.Len())
	clear(n.Mean)
	for i, v := range s.Rows {
		n.Mean[i%F] += v / N
	}
	clear(n.Std)
	for i, v := range s.Rows {
		d := v - n.Mean[i%F]
		n.Std[i%F] += d * d / N
	}
	for j, v := range n.Std {
		n.Std[j] = math.Sqrt(v)
		if n.Std[j] < 1e-9 {
			n.Std[j] = 1
		}
	}
}

func (n *Network) clone() *Network {
	c := *n
	c.Mean, c.Std = slices.Clone(n.Mean), slices.Clone(n.Std)
	c.ConvW, c.ConvB = slices.Clone(n.ConvW), slices.Clone(n.ConvB)
	c.Wx, c.Wh, c.B = slices.Clone(n.Wx), slices.Clone(n.Wh), slices.Clone(n.B)
	c.OutW, c.OutB = slices.Clone(n.OutW), slices.Clone(n.OutB)
	return &c
}

// adam is the Adam optimiser (Kingma & Ba) over a network's parameters.
type adam struct {
	lr, b1, b2, eps float64
	t               int
	m, v            [][]float64
}

func newAdam(n *Network, lr float64) *adam {
	a := &adam{lr: lr, b1: 0.9, b2: 0.999, eps: 1e-8}
	for _, p := range n.params() {
		a.m = append(a.m, make([]float64, len(p)))
		a.v = append(a.v, make([]float64, len(p)))
	}
	return a
}

func (a *adam) step(n *Network, g *Network) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	gs := g.params()
	for k, p := range n.params() {
		m, v, gr := a.m[k], a.v[k], gs[k]
		for i := range p {
			m[i] = a.b1*m[i] + (1-a.b1)*gr[i]
			v[i] = a.b2*v[i] + (1-a.b2)*gr[i]*gr[i]
			p[i] -= a.lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + a.eps)
		}
	}
}
