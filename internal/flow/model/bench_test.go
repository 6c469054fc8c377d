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
	benchOnce  sync.Once
	benchModel *Model
	benchRecs  []flow.Record
	benchErr   error
)

// benchSetup trains the default model (100 trees) on the published
// 5,000-per-class sample, once per test binary.
func benchSetup(b *testing.B) (*Model, []flow.Record) {
	b.Helper()
	path := flowtest.Path(b, "netflow", "cicids2017-improved-samples.tar.gz")
	benchOnce.Do(func() {
		ds, err := dataset.Load(context.Background(), []string{path}, dataset.Options{Match: "rnd_5000"})
		if err != nil {
			benchErr = err
			return
		}
		benchRecs = ds.Records
		benchModel, benchErr = Train(context.Background(), ds.Records, TrainConfig{Seed: 1})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchModel, benchRecs
}

// BenchmarkClassify measures full verdicts (forest + isolation forest +
// alert rule) per core on real flows; reports flows/s.
func BenchmarkClassify(b *testing.B) {
	m, recs := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = m.Classify(&recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkForestPredict measures the random forest alone.
func BenchmarkForestPredict(b *testing.B) {
	m, recs := benchSetup(b)
	x := m.Schema().MatrixOf(recs)
	probs := make([]float64, len(m.Classes))
	b.ResetTimer()
	for i := range b.N {
		m.Forest.Predict(x.Row(i%x.Rows), probs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkTrain measures training the default model on the 43,419-row
// sample (run with -benchtime 1x; the machine's cores are used).
func BenchmarkTrain(b *testing.B) {
	_, recs := benchSetup(b)
	b.ResetTimer()
	for range b.N {
		if _, err := Train(context.Background(), recs, TrainConfig{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
