// Package clstm is a convolutional LSTM classifier over time-ordered
// windows of flows (the "CLSTM" of the KubeSecure design), trained and
// served in pure Go on gonum's BLAS: a 1-D convolution with ReLU across
// the flows of a window, an LSTM over the convolution's outputs and a
// softmax layer on its last hidden state. Forward and backward passes are
// written out (and checked against finite differences in the tests);
// training uses Adam and is deterministic for a seed.
package clstm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Network is a trained (or initialised) CLSTM. Weight matrices are dense
// row-major; the LSTM gates are laid out i, f, g, o in blocks of Hidden
// columns.
type Network struct {
	// Inputs is the number of features of one flow; Window the flows per
	// window (the window ending at a flow classifies that flow).
	Inputs int `json:"inputs"`
	Window int `json:"window"`
	// Kernel is the convolution width in flows, Filters its output
	// channels, Hidden the LSTM size and Classes the softmax size.
	Kernel  int `json:"kernel"`
	Filters int `json:"filters"`
	Hidden  int `json:"hidden"`
	Classes int `json:"classes"`
	// Mean and Std standardise inputs; they are fitted on training data.
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// ConvW is (Kernel·Inputs)×Filters, ConvB Filters.
	ConvW []float64 `json:"conv_w"`
	ConvB []float64 `json:"conv_b"`
	// Wx is Filters×4Hidden, Wh Hidden×4Hidden, B 4Hidden.
	Wx []float64 `json:"lstm_wx"`
	Wh []float64 `json:"lstm_wh"`
	B  []float64 `json:"lstm_b"`
	// OutW is Hidden×Classes, OutB Classes.
	OutW []float64 `json:"out_w"`
	OutB []float64 `json:"out_b"`
}

// Shape is the architecture of a network.
type Shape struct {
	Inputs, Window, Kernel, Filters, Hidden, Classes int
}

// steps is the number of convolution outputs (valid padding).
func (n *Network) steps() int { return n.Window - n.Kernel + 1 }

// New returns a network of shape s with Glorot-uniform weights drawn
// from rng, forget-gate biases of 1 and identity input scaling.
func New(s Shape, rng *rand.Rand) (*Network, error) {
	if s.Inputs < 1 || s.Window < 1 || s.Kernel < 1 || s.Kernel > s.Window || s.Filters < 1 || s.Hidden < 1 || s.Classes < 2 {
		return nil, fmt.Errorf("clstm: invalid shape %+v: need inputs, filters, hidden ≥ 1, 1 ≤ kernel ≤ window and classes ≥ 2", s)
	}
	n := &Network{Inputs: s.Inputs, Window: s.Window, Kernel: s.Kernel, Filters: s.Filters, Hidden: s.Hidden, Classes: s.Classes}
	n.alloc()
	for j := range n.Std {
		n.Std[j] = 1
	}
	glorot := func(w []float64, fanIn, fanOut int) {
		a := math.Sqrt(6 / float64(fanIn+fanOut))
		for i := range w {
			w[i] = (2*rng.Float64() - 1) * a
		}
	}
	glorot(n.ConvW, s.Kernel*s.Inputs, s.Filters)
	glorot(n.Wx, s.Filters, 4*s.Hidden)
	glorot(n.Wh, s.Hidden, 4*s.Hidden)
	glorot(n.OutW, s.Hidden, s.Classes)
	for j := s.Hidden; j < 2*s.Hidden; j++ {
		n.B[j] = 1
	}
	return n, nil
}

// alloc sizes every parameter slice (zeroed) for n's shape.
func (n *Network) alloc() {
	h4 := 4 * n.Hidden
	n.Mean, n.Std = make([]float64, n.Inputs), make([]float64, n.Inputs)
	n.ConvW, n.ConvB = make([]float64, n.Kernel*n.Inputs*n.Filters), make([]float64, n.Filters)
	n.Wx, n.Wh, n.B = make([]float64, n.Filters*h4), make([]float64, n.Hidden*h4), make([]float64, h4)
	n.OutW, n.OutB = make([]float64, n.Hidden*n.Classes), make([]float64, n.Classes)
}

// params lists the trainable parameters in a fixed order.
func (n *Network) params() [][]float64 {
	return [][]float64{n.ConvW, n.ConvB, n.Wx, n.Wh, n.B, n.OutW, n.OutB}
}

// zeroLike returns a network of n's shape with all parameters zero (a
// gradient accumulator).
func (n *Network) zeroLike() *Network {
	z := &Network{Inputs: n.Inputs, Window: n.Window, Kernel: n.Kernel, Filters: n.Filters, Hidden: n.Hidden, Classes: n.Classes}
	z.alloc()
	return z
}

// Validate reports whether n's parameter sizes match its shape and every
// value is finite, so that a loaded network cannot make inference panic.
func (n *Network) Validate() error {
	s := Shape{n.Inputs, n.Window, n.Kernel, n.Filters, n.Hidden, n.Classes}
	if s.Inputs < 1 || s.Window < 1 || s.Kernel < 1 || s.Kernel > s.Window || s.Filters < 1 || s.Hidden < 1 || s.Classes < 2 ||
		s.Inputs > 1<<12 || s.Window > 1<<10 || s.Filters > 1<<12 || s.Hidden > 1<<12 || s.Classes > 1<<12 {
		return fmt.Errorf("clstm: invalid shape %+v", s)
	}
	// Compare sizes arithmetically: allocating the shape a file claims
	// would let a hostile file exhaust memory before it is refused.
	h4 := 4 * n.Hidden
	want := []int{n.Kernel * n.Inputs * n.Filters, n.Filters, n.Filters * h4, n.Hidden * h4, h4, n.Hidden * n.Classes, n.Classes, n.Inputs, n.Inputs}
	got := append(n.params(), n.Mean, n.Std)
	for i, w := range want {
		if len(got[i]) != w {
			return fmt.Errorf("clstm: parameter block %d has %d values, shape %+v needs %d", i, len(got[i]), s, w)
		}
		for _, v := range got[i] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("clstm: parameter block %d holds a non-finite value", i)
			}
		}
	}
	for _, v := range n.Std {
		if v <= 0 {
			return fmt.Errorf("clstm: input scale %v is not positive", v)
		}
	}
	return nil
}

// trace holds one batch's forward activations for the backward pass.
type trace struct {
	batch int
	x     []float64   // batch×Window×Inputs, standardised
	a     [][]float64 // per step: batch×Filters pre-activation
	c     [][]float64 // per step: batch×Filters after ReLU
	gates [][]float64 // per step: batch×4Hidden after the nonlinearities
	cell  [][]float64 // per step: batch×Hidden cell state
	h     [][]float64 // per step+1: batch×Hidden hidden state (h[0] = 0)
	probs []float64   // batch×Classes
}

func (n *Network) newTrace(batch int) *trace {
	T, H := n.steps(), n.Hidden
	tr := &trace{batch: batch, x: make([]float64, batch*n.Window*n.Inputs), probs: make([]float64, batch*n.Classes)}
	tr.h = append(tr.h, make([]float64, batch*H))
	for range T {
		tr.a = append(tr.a, make([]float64, batch*n.Filters))
		tr.c = append(tr.c, make([]float64, batch*n.Filters))
		tr.gates = append(tr.gates, make([]float64, batch*4*H))
		tr.cell = append(tr.cell, make([]float64, batch*H))
		tr.h = append(tr.h, make([]float64, batch*H))
	}
	return tr
}

// gemm computes c = alpha·op(a)·op(b) + beta·c on row-major matrices:
// op(a) is m×k, op(b) k×n.
func gemm(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	t := func(x bool) blas.Transpose {
		if x {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas64.Implementation().Dgemm(t(ta), t(tb), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// forward runs the network on the standardised windows in tr.x and fills
// the trace.
func (n *Network) forward(tr *trace) {
	B, F, W, K, Fl, H := tr.batch, n.Inputs, n.Window, n.Kernel, n.Filters, n.Hidden
	clear(tr.h[0])
	for t := range n.steps() {
		// Convolution: the K·F inputs of step t are contiguous in each
		// window, so the patch matrix is a strided view of x.
		a := tr.a[t]
		for b := range B {
			copy(a[b*Fl:(b+1)*Fl], n.ConvB)
		}
		gemm(false, false, B, Fl, K*F, 1, tr.x[t*F:], W*F, n.ConvW, Fl, 1, a, Fl)
		c := tr.c[t]
		for i, v := range a {
			c[i] = max(v, 0)
		}
		z := tr.gates[t]
		for b := range B {
			copy(z[b*4*H:(b+1)*4*H], n.B)
		}
		gemm(false, false, B, 4*H, Fl, 1, c, Fl, n.Wx, 4*H, 1, z, 4*H)
		gemm(false, false, B, 4*H, H, 1, tr.h[t], H, n.Wh, 4*H, 1, z, 4*H)
		for b := range B {
			g := z[b*4*H : (b+1)*4*H]
			var prev []float64
			if t > 0 {
				prev = tr.cell[t-1][b*H : (b+1)*H]
			}
			cell, h := tr.cell[t][b*H:(b+1)*H], tr.h[t+1][b*H:(b+1)*H]
			for j := range H {
				i, f, gg, o := sigmoid(g[j]), sigmoid(g[H+j]), math.Tanh(g[2*H+j]), sigmoid(g[3*H+j])
				g[j], g[H+j], g[2*H+j], g[3*H+j] = i, f, gg, o
				cj := i * gg
				if prev != nil {
					cj += f * prev[j]
				}
				cell[j] = cj
				h[j] = o * math.Tanh(cj)
			}
		}
	}
	p := tr.probs
	for b := range B {
		copy(p[b*n.Classes:(b+1)*n.Classes], n.OutB)
	}
	gemm(false, false, B, n.Classes, H, 1, tr.h[n.steps()], H, n.OutW, n.Classes, 1, p, n.Classes)
	for b := range B {
		softmax(p[b*n.Classes : (b+1)*n.Classes])
	}
}

func softmax(z []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	var s float64
	for i, v := range z {
		z[i] = math.Exp(v - m)
		s += z[i]
	}
	for i := range z {
		z[i] /= s
	}
}

// loss returns the weighted mean cross-entropy of the traced batch for
// labels y with per-sample weights w (sum of weights in the denominator).
func (n *Network) loss(tr *trace, y []int, w []float64) float64 {
	var l, sw float64
	for b, c := range y {
		l -= w[b] * math.Log(max(tr.probs[b*n.Classes+c], 1e-300))
		sw += w[b]
	}
	return l / sw
}

// backward accumulates into g the gradient of loss(tr, y, w) with respect
// to every parameter. scratch buffers are allocated per call.
func (n *Network) backward(tr *trace, y []int, w []float64, g *Network) {
	B, F, W, K, Fl, H, C := tr.batch, n.Inputs, n.Window, n.Kernel, n.Filters, n.Hidden, n.Classes
	T := n.steps()
	var sw float64
	for _, v := range w[:B] {
		sw += v
	}
	dl := make([]float64, B*C)
	for b := range B {
		for c := range C {
			t := 0.0
			if c == y[b] {
				t = 1
			}
			dl[b*C+c] = w[b] * (tr.probs[b*C+c] - t) / sw
		}
	}
	gemm(true, false, H, C, B, 1, tr.h[T], H, dl, C, 1, g.OutW, C)
	colSum(dl, B, C, g.OutB)
	dh := make([]float64, B*H)
	gemm(false, true, B, H, C, 1, dl, C, n.OutW, C, 0, dh, H)
	dc := make([]float64, B*H)
	dz := make([]float64, B*4*H)
	dconv := make([]float64, B*Fl)
	for t := T - 1; t >= 0; t-- {
		z := tr.gates[t]
		for b := range B {
			gt := z[b*4*H : (b+1)*4*H]
			dzb := dz[b*4*H : (b+1)*4*H]
			cell := tr.cell[t][b*H : (b+1)*H]
			for j := range H {
				i, f, gg, o := gt[j], gt[H+j], gt[2*H+j], gt[3*H+j]
				tc := math.Tanh(cell[j])
				dhj := dh[b*H+j]
				dcj := dc[b*H+j] + dhj*o*(1-tc*tc)
				var prev float64
				if t > 0 {
					prev = tr.cell[t-1][b*H+j]
				}
				dzb[j] = dcj * gg * i * (1 - i)
				dzb[H+j] = dcj * prev * f * (1 - f)
				dzb[2*H+j] = dcj * i * (1 - gg*gg)
				dzb[3*H+j] = dhj * tc * o * (1 - o)
				dc[b*H+j] = dcj * f
			}
		}
		gemm(true, false, Fl, 4*H, B, 1, tr.c[t], Fl, dz, 4*H, 1, g.Wx, 4*H)
		gemm(true, false, H, 4*H, B, 1, tr.h[t], H, dz, 4*H, 1, g.Wh, 4*H)
		colSum(dz, B, 4*H, g.B)
		gemm(false, true, B, H, 4*H, 1, dz, 4*H, n.Wh, 4*H, 0, dh, H)
		gemm(false, true, B, Fl, 4*H, 1, dz, 4*H, n.Wx, 4*H, 0, dconv, Fl)
		a := tr.a[t]
		for i, v := range a {
			if v <= 0 {
				dconv[i] = 0
			}
		}
		gemm(true, false, K*F, Fl, B, 1, tr.x[t*F:], W*F, dconv, Fl, 1, g.ConvW, Fl)
		colSum(dconv, B, Fl, g.ConvB)
	}
}

// colSum adds the column sums of the rows×cols matrix m to dst.
func colSum(m []float64, rows, cols int, dst []float64) {
	for r := range rows {
		for c, v := range m[r*cols : (r+1)*cols] {
			dst[c] += v
		}
	}
}

// clip bounds standardised inputs: flow statistics have heavy tails, and
// a single extreme value must not saturate every gate.
const clip = 8

// standardise writes rows (each Inputs values) into dst standardised with
// Mean and Std and clipped to ±clip.
func (n *Network) standardise(rows, dst []float64) {
	F := n.Inputs
	for i, v := range rows {
		j := i % F
		dst[i] = max(-clip, min(clip, (v-n.Mean[j])/n.Std[j]))
	}
}

// fillWindows copies into x the windows ending at rows ends[k] of the
// standardised sequence seq (rows of Inputs values); rows before the
// start of the sequence are zero (the training mean).
func (n *Network) fillWindows(seq []float64, ends []int, x []float64) {
	F, W := n.Inputs, n.Window
	for k, e := range ends {
		dst := x[k*W*F : (k+1)*W*F]
		first := e - W + 1
		if first < 0 {
			clear(dst[:-first*F])
			copy(dst[-first*F:], seq[:(e+1)*F])
			continue
		}
		copy(dst, seq[first*F:(e+1)*F])
	}
}

// predictBatch is the number of windows evaluated together.
const predictBatch = 256

// PredictSequence classifies every row of a time-ordered sequence (rows
// of Inputs values, scaled as in training) by the window of Window rows
// ending at it, writing Classes probabilities per row into probs.
func (n *Network) PredictSequence(rows, probs []float64) error {
	F := n.Inputs
	if len(rows)%F != 0 || len(probs) != len(rows)/F*n.Classes {
		return fmt.Errorf("clstm: predict: %d inputs and %d outputs do not fit rows of %d features and %d classes", len(rows), len(probs), F, n.Classes)
	}
	seq := make([]float64, len(rows))
	n.standardise(rows, seq)
	total := len(rows) / F
	var tr *trace
	ends := make([]int, 0, predictBatch)
	for lo := 0; lo < total; lo += predictBatch {
		hi := min(total, lo+predictBatch)
		if tr == nil || tr.batch != hi-lo {
			tr = n.newTrace(hi - lo)
		}
		ends = ends[:0]
		for e := lo; e < hi; e++ {
			ends = append(ends, e)
		}
		n.fillWindows(seq, ends, tr.x)
		n.forward(tr)
		copy(probs[lo*n.Classes:hi*n.Classes], tr.probs)
	}
	return nil
}
