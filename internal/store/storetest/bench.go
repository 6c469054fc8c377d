package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/store"
)

// BenchBatch is the batch size of BenchmarkUpsert, the consumer's batch.
const BenchBatch = 500

// benchWriters is how many goroutines the parallel insert benchmark runs.
const benchWriters = 4

// benchRecords is how many real records BenchmarkUpsert cycles through.
const benchRecords = 5000

// BenchmarkUpsert measures UpsertCVEs with real records (parsed before
// timing) in batches of BenchBatch, reporting records/s:
//
//   - insert: new records into a store that fills up to benchRecords, then
//     starts over with a fresh store;
//   - insert-Nwriters: new records from benchWriters goroutines at once;
//   - replace: newer versions of stored records (children deleted and
//     rewritten);
//   - replay: versions already stored (all skipped).
//
// open returns a fresh, empty store each call.
func BenchmarkUpsert(b *testing.B, open func(tb testing.TB) store.Store) {
	recs := RealRecords(b, benchRecords)
	ctx := context.Background()
	upsert := func(b *testing.B, s store.Store, batch []*cve.Record) {
		if _, err := s.UpsertCVEs(ctx, batch); err != nil {
			b.Fatalf("UpsertCVEs: %v", err)
		}
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N*BenchBatch)/b.Elapsed().Seconds(), "records/s")
	}
	batches := len(recs) / BenchBatch

	b.Run("insert", func(b *testing.B) {
		var s store.Store
		for i := 0; i < b.N; i++ {
			if i%batches == 0 {
				b.StopTimer()
				if s != nil {
					s.Close()
				}
				s = open(b)
				b.StartTimer()
			}
			j := i % batches
			upsert(b, s, recs[j*BenchBatch:(j+1)*BenchBatch])
		}
		b.StopTimer()
		s.Close()
		report(b)
	})

	// Consumers run several writers; each batch is distinct (IDs of later
	// rounds get a suffix), so writers never wait for each other's rows.
	b.Run(fmt.Sprintf("insert-%dwriters", benchWriters), func(b *testing.B) {
		s := open(b)
		defer s.Close()
		all := make([]*cve.Record, 0, (b.N/batches+1)*len(recs))
		for round := 0; len(all) < b.N*BenchBatch; round++ {
			all = append(all, renamedCopies(recs, round)...)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, benchWriters)
		b.ResetTimer()
		for w := 0; w < benchWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= b.N {
						return
					}
					if _, err := s.UpsertCVEs(ctx, all[i*BenchBatch:(i+1)*BenchBatch]); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatalf("UpsertCVEs: %v", err)
		}
		report(b)
	})

	b.Run("replace", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		for j := 0; j < batches; j++ {
			upsert(b, s, recs[j*BenchBatch:(j+1)*BenchBatch])
		}
		b.ResetTimer()
		var round []*cve.Record
		for i := 0; i < b.N; i++ {
			j := i % batches
			if j == 0 {
				b.StopTimer()
				round = newerCopies(recs, time.Duration(i/batches+1)*time.Second)
				b.StartTimer()
			}
			upsert(b, s, round[j*BenchBatch:(j+1)*BenchBatch])
		}
		b.StopTimer()
		report(b)
	})

	b.Run("replay", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		for j := 0; j < batches; j++ {
			upsert(b, s, recs[j*BenchBatch:(j+1)*BenchBatch])
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			j := i % batches
			upsert(b, s, recs[j*BenchBatch:(j+1)*BenchBatch])
		}
		b.StopTimer()
		report(b)
	})
}

// renamedCopies returns shallow copies of recs whose IDs carry the round
// number (round 0 keeps the IDs).
func renamedCopies(recs []*cve.Record, round int) []*cve.Record {
	out := make([]*cve.Record, len(recs))
	for i, r := range recs {
		c := *r
		if round > 0 {
			c.ID = fmt.Sprintf("%s.%d", r.ID, round)
		}
		out[i] = &c
	}
	return out
}

// newerCopies returns shallow copies of recs updated d later.
func newerCopies(recs []*cve.Record, d time.Duration) []*cve.Record {
	out := make([]*cve.Record, len(recs))
	for i, r := range recs {
		c := *r
		if c.DateUpdated.IsZero() {
			c.DateUpdated = Base
		}
		c.DateUpdated = c.DateUpdated.Add(d)
		out[i] = &c
	}
	return out
}
