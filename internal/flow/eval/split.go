// Package eval measures flow classifiers honestly: stratified, time-ordered
// and leave-one-attack-out splits, deterministic for a seed, with
// per-class and binary metrics, the confusion matrix and the benign
// false-positive rate.
package eval

import (
	"sort"

	"github.com/kubeward/kubeward/internal/flow/dataset"
)

// Split holds row indices for training and testing.
type Split = dataset.Split

// Stratified splits rows keeping every label's proportion; see
// dataset.Stratified.
func Stratified(labels []string, testFrac float64, seed uint64) Split {
	return dataset.Stratified(labels, testFrac, seed)
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
