package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// Node is one node of a flat decision tree. An internal node sends x to
// Child when x[Feature] <= Threshold and to Child+1 otherwise; a leaf has
// Feature -1 and Child is the offset of its class distribution in
// Tree.Leaves.
type Node struct {
	Feature   int32   `json:"f"`
	Child     int32   `json:"c"`
	Threshold float64 `json:"t"`
}

// Tree is a decision tree stored as a node array (root at 0) and the
// class distributions of its leaves.
type Tree struct {
	Nodes  []Node    `json:"nodes"`
	Leaves []float32 `json:"leaves"`
}

// leaf walks the tree for x and returns the leaf node.
func (t *Tree) leaf(x []float64) *Node {
	nodes := t.Nodes
	n := &nodes[0]
	for n.Feature >= 0 {
		c := n.Child
		if x[n.Feature] > n.Threshold {
			c++
		}
		n = &nodes[c]
	}
	return n
}

// Forest is a random forest classifier.
type Forest struct {
	Classes int    `json:"classes"`
	Trees   []Tree `json:"trees"`
}

// Predict writes the class probabilities for x (averaged leaf
// distributions) into probs, which must have Classes elements.
func (f *Forest) Predict(x []float64, probs []float64) {
	clear(probs)
	for i := range f.Trees {
		t := &f.Trees[i]
		off := int(t.leaf(x).Child)
		for c, p := range t.Leaves[off : off+f.Classes] {
			probs[c] += float64(p)
		}
	}
	inv := 1 / float64(len(f.Trees))
	for c := range probs {
		probs[c] *= inv
	}
}

// ForestParams tune random forest training. Zero values take defaults.
type ForestParams struct {
	// Trees in the forest (default 100).
	Trees int `json:"trees"`
	// MaxDepth limits tree depth (default 40).
	MaxDepth int `json:"max_depth"`
	// MinLeaf is the minimum number of samples in a leaf (default 1).
	MinLeaf int `json:"min_leaf"`
	// MaxFeatures tried per split (default √features).
	MaxFeatures int `json:"max_features"`
	// Bins bounds the candidate thresholds per feature (2–256, default 256).
	Bins int `json:"bins"`
	// BalancedClasses weights classes inversely to their frequency.
	BalancedClasses bool `json:"balanced_classes"`
	// Workers trains trees in parallel (default GOMAXPROCS); the result
	// does not depend on it.
	Workers int `json:"-"`
}

func (p ForestParams) withDefaults(features int) ForestParams {
	if p.Trees <= 0 {
		p.Trees = 100
	}
	if p.MaxDepth <= 0 {
		p.MaxDepth = 40
	}
	if p.MinLeaf <= 0 {
		p.MinLeaf = 1
	}
	if p.MaxFeatures <= 0 || p.MaxFeatures > features {
		p.MaxFeatures = max(1, int(math.Sqrt(float64(features))))
	}
	if p.Bins < 2 || p.Bins > 256 {
		p.Bins = 256
	}
	if p.Workers <= 0 {
		p.Workers = runtime.GOMAXPROCS(0)
	}
	return p
}

// binned is the training matrix quantised per feature: Bins[j][i] is the
// bin of sample i on feature j, and sample values in bin b are at most
// Edges[j][b].
type binned struct {
	bins  [][]uint8
	edges [][]float64
}

func quantise(x *Matrix, maxBins int) *binned {
	b := &binned{bins: make([][]uint8, x.Cols), edges: make([][]float64, x.Cols)}
	col := make([]float64, x.Rows)
	for j := range x.Cols {
		for i := range x.Rows {
			col[i] = x.Data[i*x.Cols+j]
		}
		sorted := append([]float64(nil), col...)
		sort.Float64s(sorted)
		uniq := sorted[:0:0]
		for i, v := range sorted {
			if i == 0 || v != sorted[i-1] {
				uniq = append(uniq, v)
			}
		}
		var edges []float64
		if len(uniq) <= maxBins {
			for i := 1; i < len(uniq); i++ {
				edges = append(edges, uniq[i-1]+(uniq[i]-uniq[i-1])/2)
			}
		} else {
			for k := 1; k < maxBins; k++ {
				v := sorted[k*len(sorted)/maxBins]
				if len(edges) == 0 || v > edges[len(edges)-1] {
					edges = append(edges, v)
				}
			}
		}
		b.edges[j] = edges
		bins := make([]uint8, x.Rows)
		for i, v := range col {
			bins[i] = uint8(sort.SearchFloat64s(edges, v))
		}
		b.bins[j] = bins
	}
	return b
}

// TrainForest fits a random forest to x and labels y (0…classes-1). The
// forest depends only on the data, the parameters and seed. It also
// returns, for every training sample, its out-of-bag class probabilities
// (averaged over the trees that did not see it; zero when every tree
// did), an honest estimate for threshold calibration.
func TrainForest(ctx context.Context, x *Matrix, y []int, classes int, p ForestParams, seed uint64) (*Forest, *Matrix, error) {
	if x.Rows == 0 || x.Rows != len(y) {
		return nil, nil, fmt.Errorf("train forest: %d rows and %d labels", x.Rows, len(y))
	}
	for _, c := range y {
		if c < 0 || c >= classes {
			return nil, nil, fmt.Errorf("train forest: label %d outside 0..%d", c, classes-1)
		}
	}
	p = p.withDefaults(x.Cols)
	data := quantise(x, p.Bins)
	weights := make([]float64, classes)
	for c := range weights {
		weights[c] = 1
	}
	if p.BalancedClasses {
		counts := make([]int, classes)
		for _, c := range y {
			counts[c]++
		}
		for c, n := range counts {
			if n > 0 {
				weights[c] = float64(len(y)) / float64(classes*n)
			}
		}
	}
	f := &Forest{Classes: classes, Trees: make([]Tree, p.Trees)}
	inBag := make([][]bool, p.Trees)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range p.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGrower(data, y, classes, weights, p)
			for t := range jobs {
				rng := rand.New(rand.NewPCG(seed, uint64(t)+1))
				f.Trees[t], inBag[t] = g.grow(rng)
			}
		}()
	}
	var err error
	for t := range p.Trees {
		if err = ctx.Err(); err != nil {
			break
		}
		jobs <- t
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return nil, nil, fmt.Errorf("train forest: %w", err)
	}
	oob := &Matrix{Rows: x.Rows, Cols: classes, Data: make([]float64, x.Rows*classes)}
	for i := range x.Rows {
		row, out := x.Row(i), oob.Row(i)
		n := 0
		for t := range f.Trees {
			if inBag[t][i] {
				continue
			}
			tr := &f.Trees[t]
			off := int(tr.leaf(row).Child)
			for c, v := range tr.Leaves[off : off+classes] {
				out[c] += float64(v)
			}
			n++
		}
		if n > 0 {
			for c := range out {
				out[c] /= float64(n)
			}
		}
	}
	return f, oob, nil
}

// grower holds one worker's scratch space.
type grower struct {
	data    *binned
	y       []int
	classes int
	w       []float64
	p       ForestParams
	hist    []float64 // bins × classes weighted counts
	count   []int32   // bins sample counts
	perm    []int
	total   []float64
	left    []float64
}

func newGrower(data *binned, y []int, classes int, w []float64, p ForestParams) *grower {
	nf := len(data.bins)
	g := &grower{data: data, y: y, classes: classes, w: w, p: p,
		hist: make([]float64, 256*classes), count: make([]int32, 256),
		perm: make([]int, nf), total: make([]float64, classes), left: make([]float64, classes)}
	return g
}

type span struct {
	node, lo, hi, depth int
}

// split makes node s of t an inner node testing feat against the edge of
// bin: it partitions part (the samples of s, in place) so that those in
// bins <= bin come first, appends the two children and pushes their spans
// (left last, so it is grown next) onto stack.
func (d *binned) split(t *Tree, part []int32, feat, bin int, s span, stack []span) []span {
	col := d.bins[feat]
	i, j := 0, len(part)-1
	for i <= j {
		if int(col[part[i]]) <= bin {
			i++
		} else {
			part[i], part[j] = part[j], part[i]
			j--
		}
	}
	child := len(t.Nodes)
	t.Nodes = append(t.Nodes, Node{}, Node{})
	t.Nodes[s.node] = Node{Feature: int32(feat), Child: int32(child), Threshold: d.edges[feat][bin]}
	return append(stack, span{child + 1, s.lo + i, s.hi, s.depth + 1}, span{child, s.lo, s.lo + i, s.depth + 1})
}

func (g *grower) grow(rng *rand.Rand) (Tree, []bool) {
	n := len(g.y)
	idx := make([]int32, n)
	bag := make([]bool, n)
	for i := range idx {
		s := rng.IntN(n)
		idx[i] = int32(s)
		bag[s] = true
	}
	t := Tree{Nodes: []Node{{}}}
	stack := []span{{0, 0, n, 0}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		part := idx[s.lo:s.hi]
		clear(g.total)
		for _, i := range part {
			c := g.y[i]
			g.total[c] += g.w[c]
		}
		feat, bin, ok := -1, 0, false
		if s.depth < g.p.MaxDepth && len(part) >= 2*g.p.MinLeaf && !pure(g.total) {
			feat, bin, ok = g.bestSplit(rng, part)
		}
		if !ok {
			off := len(t.Leaves)
			var sum float64
			for _, v := range g.total {
				sum += v
			}
			for _, v := range g.total {
				t.Leaves = append(t.Leaves, float32(v/sum))
			}
			t.Nodes[s.node] = Node{Feature: -1, Child: int32(off)}
			continue
		}
		stack = g.data.split(&t, part, feat, bin, s, stack)
	}
	return t, bag
}

func pure(total []float64) bool {
	nz := 0
	for _, v := range total {
		if v > 0 {
			nz++
		}
	}
	return nz <= 1
}

// bestSplit evaluates features in random order until MaxFeatures of them
// offered a valid split, and returns the best Gini split found.
func (g *grower) bestSplit(rng *rand.Rand, part []int32) (feat, bin int, ok bool) {
	for i := range g.perm {
		g.perm[i] = i
	}
	var totalW float64
	var totalSq float64
	for _, v := range g.total {
		totalW += v
		totalSq += v * v
	}
	// Splitting must beat the parent's Σc²/W score.
	best := totalSq / totalW * (1 + 1e-12)
	tried := 0
	k := g.classes
	for r := 0; r < len(g.perm) && tried < g.p.MaxFeatures; r++ {
		s := r + rng.IntN(len(g.perm)-r)
		g.perm[r], g.perm[s] = g.perm[s], g.perm[r]
		f := g.perm[r]
		col := g.data.bins[f]
		lo, hi := 255, 0
		for _, i := range part {
			b := int(col[i])
			c := g.y[i]
			g.hist[b*k+c] += g.w[c]
			g.count[b]++
			lo, hi = min(lo, b), max(hi, b)
		}
		if lo == hi {
			clear(g.hist[lo*k : (lo+1)*k])
			g.count[lo] = 0
			continue // constant in this node: does not count as tried
		}
		tried++
		clear(g.left)
		var leftW, leftSq float64
		rightW, rightSq := totalW, totalSq
		var leftN int32
		minLeaf := int32(g.p.MinLeaf)
		n := int32(len(part))
		for b := lo; b < hi; b++ {
			if g.count[b] == 0 {
				continue
			}
			leftN += g.count[b]
			h := g.hist[b*k : (b+1)*k]
			for c, v := range h {
				if v == 0 {
					continue
				}
				l := g.left[c]
				r := g.total[c] - l
				leftSq += (l+v)*(l+v) - l*l
				rightSq += (r-v)*(r-v) - r*r
				g.left[c] = l + v
				leftW += v
				rightW -= v
			}
			if leftN < minLeaf || n-leftN < minLeaf || leftW <= 0 || rightW <= 0 {
				continue
			}
			if score := leftSq/leftW + rightSq/rightW; score > best {
				best, feat, bin, ok = score, f, b, true
			}
		}
		clear(g.hist[lo*k : (hi+1)*k])
		clear(g.count[lo : hi+1])
	}
	return feat, bin, ok
}
