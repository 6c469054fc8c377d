package model

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/clstm"
	"github.com/kubeward/kubeward/internal/flow/dataset"
)

// TimeOrder returns the indices of recs sorted by flow start time, ties
// in input order: the order a sequence model sees flows in.
func TimeOrder(recs []flow.Record) []int {
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(recs[a].StartMicros, recs[b].StartMicros) })
	return idx
}

// trainCLSTM fits the CLSTM on the scaled features of recs in time order.
// A stratified share of the rows is held out (as its own time-ordered
// sequence) to pick the best epoch and to return honest benign-class
// probabilities of benign rows for threshold calibration.
func trainCLSTM(ctx context.Context, recs []flow.Record, x *Matrix, y []int, classes, benign int, scaler *Scaler, cfg TrainConfig) (*clstm.Network, []float64, error) {
	split := dataset.Stratified(labelsOf(recs), boostValidationFraction, cfg.Seed)
	order := TimeOrder(recs)
	inTest := make([]bool, len(recs))
	for _, i := range split.Test {
		inTest[i] = true
	}
	var trainIdx, valIdx []int
	for _, i := range order {
		if inTest[i] {
			valIdx = append(valIdx, i)
		} else {
			trainIdx = append(trainIdx, i)
		}
	}
	seq := func(idx []int) *clstm.Sequence {
		return &clstm.Sequence{Features: x.Cols, Rows: scaler.TransformAll(x.Subset(idx)).Data, Labels: pickInts(y, idx)}
	}
	train, val := seq(trainIdx), seq(valIdx)
	c := cfg.CLSTM
	n, err := clstm.Train(ctx, train, val, classes, c, cfg.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("clstm: %w", err)
	}
	probs := make([]float64, val.Len()*classes)
	if err := n.PredictSequence(val.Rows, probs); err != nil {
		return nil, nil, err
	}
	var pb []float64
	for i, l := range val.Labels {
		if l == benign {
			pb = append(pb, probs[i*classes+benign])
		}
	}
	return n, pb, nil
}

// streamPredictor adapts a CLSTM stream to per-flow prediction: each
// flow is judged by the window of the flows classified before it.
type streamPredictor struct {
	stream *clstm.Stream
	scaler *Scaler
}

func (p *streamPredictor) Predict(x, probs []float64) {
	scaled := p.scaler.Transform(x, make([]float64, 0, len(x)))
	// The sizes match by construction (Load checked the network).
	_ = p.stream.Next(scaled, probs)
}
