package model

import (
	"context"
	"sync"
	"testing"

	"github.com/kubeward/kubeward/internal/flow"
	"github.com/kubeward/kubeward/internal/flow/dataset"
	"github.com/kubeward/kubeward/internal/flow/flowtest"
)

var (
	benchOnce sync.Once
	benchRecs []flow.Record
	benchErr  error
	benchMu   sync.Mutex
	// benchModels caches one model per algorithm per test binary.
	benchModels = map[string]*Model{}
)

// benchData loads the published 5,000-per-class sample once.
func benchData(b *testing.B) []flow.Record {
	b.Helper()
	path := flowtest.Path(b, "netflow", "cicids2017-improved-samples.tar.gz")
	benchOnce.Do(func() {
		ds, err := dataset.Load(context.Background(), []string{path}, dataset.Options{Match: "rnd_5000"})
		if err != nil {
			benchErr = err
			return
		}
		benchRecs = ds.Records
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchRecs
}

// benchSetup trains the algorithm's default model on the sample, once
// per test binary.
func benchSetup(b *testing.B, algorithm string) (*Model, []flow.Record) {
	b.Helper()
	recs := benchData(b)
	benchMu.Lock()
	defer benchMu.Unlock()
	m := benchModels[algorithm]
	if m == nil {
		var err error
		m, err = Train(context.Background(), recs, TrainConfig{Algorithm: algorithm, Seed: 1, Boost: BoostParams{BalancedClasses: true}})
		if err != nil {
			b.Fatal(err)
		}
		benchModels[algorithm] = m
	}
	return m, recs
}

// BenchmarkClassify measures full verdicts (classifier + isolation forest
// + alert rule) per core on real flows for every algorithm; reports
// flows/s.
func BenchmarkClassify(b *testing.B) {
	for _, alg := range Algorithms() {
		b.Run(alg, func(b *testing.B) {
			m, recs := benchSetup(b, alg)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				_ = m.Classify(&recs[i%len(recs)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
		})
	}
}

// BenchmarkPredict measures the supervised classifier alone (forest,
// boosted trees) per flow.
func BenchmarkPredict(b *testing.B) {
	for _, alg := range []string{AlgorithmForest, AlgorithmBoosting} {
		b.Run(alg, func(b *testing.B) {
			m, recs := benchSetup(b, alg)
			x := m.Schema().MatrixOf(recs)
			probs := make([]float64, len(m.Classes))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m.predictor.Predict(x.Row(i%x.Rows), probs)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
		})
	}
}

// BenchmarkTrain measures training each algorithm's default model on the
// 43,419-row sample (run with -benchtime 1x; the machine's cores are
// used).
func BenchmarkTrain(b *testing.B) {
	recs := benchData(b)
	for _, alg := range Algorithms() {
		b.Run(alg, func(b *testing.B) {
			for range b.N {
				if _, err := Train(context.Background(), recs, TrainConfig{Algorithm: alg, Seed: 1, Boost: BoostParams{BalancedClasses: true}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
