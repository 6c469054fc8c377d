package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Scaler maps raw features to a robust scale: a signed log1p (flow
// statistics span many orders of magnitude), then centring on the median
// and dividing by the interquartile range, both fitted on training data.
type Scaler struct {
	Median []float64 `json:"median"`
	Scale  []float64 `json:"scale"`
}

// FitScaler fits a Scaler to the rows of x.
func FitScaler(x *Matrix) *Scaler {
	s := &Scaler{Median: make([]float64, x.Cols), Scale: make([]float64, x.Cols)}
	col := make([]float64, x.Rows)
	for j := range x.Cols {
		for i := range x.Rows {
			col[i] = slog1p(x.Data[i*x.Cols+j])
		}
		sort.Float64s(col)
		q := func(p float64) float64 { return col[int(p*float64(len(col)-1))] }
		s.Median[j] = q(0.5)
		iqr := q(0.75) - q(0.25)
		if iqr <= 0 {
			iqr = 1
		}
		s.Scale[j] = iqr
	}
	return s
}

// Transform writes the scaled x into dst and returns it.
func (s *Scaler) Transform(x, dst []float64) []float64 {
	dst = dst[:0]
	for j, v := range x {
		dst = append(dst, (slog1p(v)-s.Median[j])/s.Scale[j])
	}
	return dst
}

// TransformAll returns the scaled rows of x.
func (s *Scaler) TransformAll(x *Matrix) *Matrix {
	out := &Matrix{Rows: x.Rows, Cols: x.Cols, Data: make([]float64, 0, len(x.Data))}
	buf := make([]float64, 0, x.Cols)
	for i := range x.Rows {
		buf = s.Transform(x.Row(i), buf)
		out.Data = append(out.Data, buf...)
	}
	return out
}

func slog1p(v float64) float64 {
	if v < 0 {
		return -math.Log1p(-v)
	}
	return math.Log1p(v)
}

// IsolationForest scores how easily a point is isolated by random
// axis-parallel cuts (Liu et al. 2008): anomalies have short paths. It is
// trained on benign flows only, so it flags traffic unlike anything benign
// seen in training, including attacks no labelled example covered.
type IsolationForest struct {
	Sample int             `json:"sample"`
	Trees  []IsolationTree `json:"trees"`
}

// IsolationTree is a flat isolation tree (root at 0).
type IsolationTree struct {
	Nodes []IsolationNode `json:"nodes"`
}

// IsolationNode is one node of an isolation tree. An internal node sends
// x to Child when x[Feature] <= Threshold and to Child+1 otherwise, and
// isolates x at once when x[Feature] lies outside [Lo, Hi], the range of
// its training points. A leaf has Feature -1 and its path length (depth
// plus the expected depth of its remaining points) in Threshold.
type IsolationNode struct {
	Feature   int32   `json:"f"`
	Child     int32   `json:"c"`
	Threshold float64 `json:"t"`
	Lo        float64 `json:"lo,omitempty"`
	Hi        float64 `json:"hi,omitempty"`
}

// IsolationParams tune isolation forest training.
type IsolationParams struct {
	// Trees (default 100) and Sample, the subsample per tree (default 256).
	Trees  int `json:"trees"`
	Sample int `json:"sample"`
}

// TrainIsolationForest fits an isolation forest to the (scaled) rows of x.
// It also returns each row's out-of-bag score (from the trees whose
// subsample did not contain the row; NaN if every tree saw it), an honest
// estimate for threshold calibration.
func TrainIsolationForest(ctx context.Context, x *Matrix, p IsolationParams, seed uint64) (*IsolationForest, []float64, error) {
	if p.Trees <= 0 {
		p.Trees = 100
	}
	if p.Sample <= 0 {
		p.Sample = 256
	}
	if x.Rows < 2 {
		return nil, nil, fmt.Errorf("train isolation forest: need at least 2 benign rows, have %d", x.Rows)
	}
	p.Sample = min(p.Sample, x.Rows)
	limit := int(math.Ceil(math.Log2(float64(p.Sample))))
	f := &IsolationForest{Sample: p.Sample, Trees: make([]IsolationTree, p.Trees)}
	rng := rand.New(rand.NewPCG(seed, 0x150))
	pathSum := make([]float64, x.Rows)
	pathN := make([]int, x.Rows)
	inSample := make([]bool, x.Rows)
	for t := range f.Trees {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("train isolation forest: %w", err)
		}
		idx := rng.Perm(x.Rows)[:p.Sample]
		tree := IsolationTree{Nodes: []IsolationNode{{}}}
		type item struct {
			node, depth int
			rows        []int
		}
		stack := []item{{0, 0, idx}}
		for len(stack) > 0 {
			it := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			feat, thr, lo, hi, ok := -1, 0.0, 0.0, 0.0, false
			if it.depth < limit && len(it.rows) > 1 {
				feat, thr, lo, hi, ok = randomCut(rng, x, it.rows)
			}
			if !ok {
				tree.Nodes[it.node] = IsolationNode{Feature: -1, Threshold: float64(it.depth) + avgPath(len(it.rows))}
				continue
			}
			var left, right []int
			for _, r := range it.rows {
				if x.Data[r*x.Cols+feat] <= thr {
					left = append(left, r)
				} else {
					right = append(right, r)
				}
			}
			child := len(tree.Nodes)
			tree.Nodes = append(tree.Nodes, IsolationNode{}, IsolationNode{})
			tree.Nodes[it.node] = IsolationNode{Feature: int32(feat), Child: int32(child), Threshold: thr, Lo: lo, Hi: hi}
			stack = append(stack, item{child, it.depth + 1, left}, item{child + 1, it.depth + 1, right})
		}
		f.Trees[t] = tree
		for _, r := range idx {
			inSample[r] = true
		}
		for r := range x.Rows {
			if !inSample[r] {
				pathSum[r] += tree.pathLength(x.Row(r))
				pathN[r]++
			}
		}
		for _, r := range idx {
			inSample[r] = false
		}
	}
	oob := make([]float64, x.Rows)
	for r := range oob {
		oob[r] = math.NaN()
		if pathN[r] > 0 {
			oob[r] = f.score(pathSum[r] / float64(pathN[r]))
		}
	}
	return f, oob, nil
}

// randomCut picks a random feature that varies among rows and a uniform
// threshold inside its range [lo, hi].
func randomCut(rng *rand.Rand, x *Matrix, rows []int) (f int, thr, lo, hi float64, ok bool) {
	for _, f = range rng.Perm(x.Cols) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, r := range rows {
			v := x.Data[r*x.Cols+f]
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if hi > lo {
			thr := lo + rng.Float64()*(hi-lo)
			if thr >= hi {
				thr = lo
			}
			return f, thr, lo, hi, true
		}
	}
	return 0, 0, 0, 0, false
}

// avgPath is c(n), the average path length of an unsuccessful search in a
// binary search tree of n points.
func avgPath(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	h := math.Log(float64(n-1)) + 0.5772156649
	return 2*h - 2*float64(n-1)/float64(n)
}

// Score returns the anomaly score of the scaled vector x in (0, 1]:
// around 0.5 or less is normal, close to 1 is anomalous. A point outside
// the range a node's training points span on its split feature is
// isolated at that node: no benign sample was that extreme there.
func (f *IsolationForest) Score(x []float64) float64 {
	var sum float64
	for i := range f.Trees {
		sum += f.Trees[i].pathLength(x)
	}
	return f.score(sum / float64(len(f.Trees)))
}

// score maps a mean path length to the anomaly score.
func (f *IsolationForest) score(meanPath float64) float64 {
	return math.Pow(2, -meanPath/avgPath(f.Sample))
}

// pathLength walks an isolation tree.
func (t *IsolationTree) pathLength(x []float64) float64 {
	i, depth := 0, 0
	for {
		n := &t.Nodes[i]
		if n.Feature < 0 {
			return n.Threshold
		}
		v := x[n.Feature]
		if v < n.Lo || v > n.Hi {
			return float64(depth) + 1
		}
		i = int(n.Child)
		if v > n.Threshold {
			i++
		}
		depth++
	}
}
