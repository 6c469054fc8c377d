package dataset

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
// label has two rows or more) is tested, the rest trained on. Both index
// lists are sorted; the split depends only on labels, testFrac and seed.
func Stratified(labels []string, testFrac float64, seed uint64) Split {
	names, byLabel := rowsByLabel(labels)
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

// StratifiedFolds assigns rows to k folds so that every label is spread
// evenly over them: each label's rows are shuffled (seeded) and dealt
// out in turn, starting where the previous label stopped. It returns
// the row indices of each fold, sorted.
func StratifiedFolds(labels []string, k int, seed uint64) [][]int {
	k = max(1, k)
	names, byLabel := rowsByLabel(labels)
	rng := rand.New(rand.NewPCG(seed, 0xf01d))
	folds := make([][]int, k)
	next := 0
	for _, l := range names {
		rows := byLabel[l]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for _, r := range rows {
			folds[next] = append(folds[next], r)
			next = (next + 1) % k
		}
	}
	for _, f := range folds {
		sort.Ints(f)
	}
	return folds
}

// rowsByLabel groups row indices by label; names are the labels, sorted,
// so that seeded shuffles over them do not depend on map order.
func rowsByLabel(labels []string) ([]string, map[string][]int) {
	byLabel := map[string][]int{}
	var names []string
	for i, l := range labels {
		if _, ok := byLabel[l]; !ok {
			names = append(names, l)
		}
		byLabel[l] = append(byLabel[l], i)
	}
	sort.Strings(names)
	return names, byLabel
}
