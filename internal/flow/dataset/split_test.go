package dataset

import (
	"slices"
	"testing"
)

func TestStratifiedFolds(t *testing.T) {
	var labels []string
	for i := range 100 {
		l := "benign"
		if i%10 == 0 {
			l = "attack"
		}
		labels = append(labels, l)
	}
	tests := []struct {
		k             int
		minAttack     int
		minRows, maxR int
	}{{2, 5, 50, 50}, {3, 3, 33, 34}, {5, 2, 20, 20}}
	for _, tc := range tests {
		folds := StratifiedFolds(labels, tc.k, 4)
		if len(folds) != tc.k {
			t.Fatalf("k=%d: %d folds", tc.k, len(folds))
		}
		var all []int
		for _, f := range folds {
			attacks := 0
			for _, i := range f {
				if labels[i] == "attack" {
					attacks++
				}
			}
			if attacks < tc.minAttack || len(f) < tc.minRows || len(f) > tc.maxR || !slices.IsSorted(f) {
				t.Errorf("k=%d: fold of %d rows with %d attacks (sorted %v)", tc.k, len(f), attacks, slices.IsSorted(f))
			}
			all = append(all, f...)
		}
		slices.Sort(all)
		for i, v := range all {
			if v != i {
				t.Fatalf("k=%d: folds are not a partition of the rows", tc.k)
			}
		}
		again := StratifiedFolds(labels, tc.k, 4)
		other := StratifiedFolds(labels, tc.k, 5)
		if !slices.Equal(again[0], folds[0]) || slices.Equal(other[0], folds[0]) {
			t.Errorf("k=%d: folds not determined by the seed", tc.k)
		}
	}
}
