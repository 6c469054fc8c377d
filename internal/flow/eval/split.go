// Package eval measures flow classifiers honestly: stratified, time-ordered
// and leave-one-attack-out splits, deterministic for a seed, with
// per-class and binary metrics and the benign false-positive rate.
package eval

import (
	"math/rand/v2"
	"sort"
)

// Split holds row indices for training and testing.
type Split struct {
	Train, Test []int
}

// Stratified splits rows so that every label keeps its proportion: a
// testFrac share of each label's rows (rounded, at least one when the
// label has two rows or more) is tested, the rest trained on.
func Stratified(labels []string, testFrac float64, seed uint64) Split {
	byLabel := map[string][]int{}
	var names []string
	for i, l := range labels {
		if _, ok := byLabel[l]; !ok {
			names = append(names, l)
		}
		byLabel[l] = append(byLabel[l], i)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var s Split
	for _, l := range names {
		rows := byLabel[l]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		n := int(float64(len(rows))*testFrac + 0.5)
		if n == 0 && len(rows) >= 2 {
			n = 1
		}
		s.Test = append(s.Test, rows[:n]...)
		s.Train = append(s.Train, rows[n:]...)
	}
	sort.Ints(s.Train)
	sort.Ints(s.Test)
	return s
}

// TimeOrdered trains on the earliest rows and tests on the latest testFrac
// share, by flow start time (ties broken by row order).
func TimeOrdered(times []int64, testFrac float64) Split {
	idx := make([]int, len(times))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return times[idx[a]] < times[idx[b]] })
	cut := len(idx) - int(float64(len(idx))*testFrac+0.5)
	return Split{Train: idx[:cut], Test: idx[cut:]}
}

func sortStrings(s []string) { sort.Strings(s) }
