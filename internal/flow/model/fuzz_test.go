package model

import (
	"bytes"
	"testing"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/clstm"
)

// FuzzLoad loads arbitrary model files: Load may refuse them but must not
// panic, and a model it accepts must classify without panicking.
func FuzzLoad(f *testing.F) {
	m, err := Train(f.Context(), synthetic(60, 1), TrainConfig{Algorithm: AlgorithmForest, Seed: 1, Now: fixedNow,
		Forest: ForestParams{Trees: 2, MaxDepth: 3}, Isolation: IsolationParams{Trees: 2, Sample: 8}})
	if err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	if err := m.Save(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	for _, alg := range []string{AlgorithmBoosting, AlgorithmCLSTM} {
		cfg := smallConfig(alg, 1)
		cfg.Boost.Rounds, cfg.CLSTM = 2, clstm.Config{Window: 2, Kernel: 1, Filters: 2, Hidden: 2, Epochs: 1}
		cfg.Isolation = IsolationParams{Trees: 2, Sample: 8}
		m, err := Train(f.Context(), synthetic(60, 1), cfg)
		if err != nil {
			f.Fatal(err)
		}
		var b bytes.Buffer
		if err := m.Save(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte(`{"format":"kubeward-flow-model","version":1}`))
	f.Add([]byte(`{}`))
	probe := synthetic(3, 2)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := range probe {
			_ = m.Classify(&probe[i])
		}
		var extreme flow.Record
		for j := range extreme.Values {
			extreme.Values[j] = -1e300
		}
		_ = m.Classify(&extreme)
	})
}
