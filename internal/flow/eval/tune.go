package eval

import (
	"context"
	"fmt"
	"slices"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/dataset"
	"github.com/kubeward/kubeward/internal/flow/model"
)

// Candidate is one model configuration offered to Tune.
type Candidate struct {
	// Name describes the candidate in reports, e.g. "depth 6, balanced".
	Name  string
	Train model.TrainConfig
}

// TuneResult is one candidate's cross-validated score.
type TuneResult struct {
	Name string `json:"name"`
	// FoldMacroF1 holds the macro-F1 of every validation fold, MeanMacroF1
	// their mean.
	FoldMacroF1 []float64 `json:"fold_macro_f1"`
	MeanMacroF1 float64   `json:"mean_macro_f1"`
}

// Tune scores every candidate by stratified k-fold cross-validation on
// recs, which must be training rows only (the test rows of an
// evaluation never reach it), and returns the results and the index of
// the candidate with the best mean macro-F1 (the first on ties).
func Tune(ctx context.Context, recs []flow.Record, cands []Candidate, folds int, seed uint64) ([]TuneResult, int, error) {
	if len(cands) == 0 {
		return nil, -1, fmt.Errorf("tune: no candidate configurations")
	}
	if folds < 2 {
		return nil, -1, fmt.Errorf("tune: %d folds: need at least 2", folds)
	}
	labels := make([]string, len(recs))
	for i := range recs {
		labels[i] = recs[i].Label
	}
	parts := dataset.StratifiedFolds(labels, folds, seed)
	results := make([]TuneResult, len(cands))
	best := 0
	for c, cand := range cands {
		results[c].Name = cand.Name
		for f, val := range parts {
			var trainIdx []int
			for g, p := range parts {
				if g != f {
					trainIdx = append(trainIdx, p...)
				}
			}
			slices.Sort(trainIdx)
			m, err := model.Train(ctx, pick(recs, trainIdx), cand.Train)
			if err != nil {
				return nil, -1, fmt.Errorf("tune %s, fold %d: %w", cand.Name, f+1, err)
			}
			sc := test(m, recs, val)
			results[c].FoldMacroF1 = append(results[c].FoldMacroF1, sc.MacroF1)
			results[c].MeanMacroF1 += sc.MacroF1 / float64(folds)
		}
		if results[c].MeanMacroF1 > results[best].MeanMacroF1 {
			best = c
		}
	}
	return results, best, nil
}

// Grid returns the candidates `kubeward flow eval --tune` tries for
// base's algorithm: class weighting on and off, crossed with a shallower
// and a deeper tree depth (boosting) or a shorter and a longer window
// (CLSTM). Every other setting comes from base.
func Grid(base model.TrainConfig) []Candidate {
	var out []Candidate
	for _, balanced := range []bool{false, true} {
		weight := "unweighted"
		if balanced {
			weight = "class-balanced"
		}
		switch base.Algorithm {
		case model.AlgorithmBoosting:
			for _, depth := range []int{4, 8} {
				c := base
				c.Boost.BalancedClasses, c.Boost.MaxDepth = balanced, depth
				out = append(out, Candidate{Name: fmt.Sprintf("boosting depth %d, %s", depth, weight), Train: c})
			}
		case model.AlgorithmCLSTM:
			for _, window := range []int{4, 8} {
				c := base
				c.CLSTM.BalancedClasses, c.CLSTM.Window = balanced, window
				out = append(out, Candidate{Name: fmt.Sprintf("clstm window %d, %s", window, weight), Train: c})
			}
		default:
			c := base
			c.Forest.BalancedClasses = balanced
			out = append(out, Candidate{Name: "random forest, " + weight, Train: c})
		}
	}
	return out
}
