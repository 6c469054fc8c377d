package bustest

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/kubeward/kubeward/internal/bus"
)

// Benchmark measures publish+consume throughput of 1 KiB messages through
// b: one publisher writes b.N messages over 64 keys in batches of 100 while
// one consumer group handles them in batches of up to 500. It reports
// msgs/s and MB/s over the time from the first publish to the last message
// handled.
func Benchmark(tb *testing.B, b bus.Bus) {
	const (
		valueSize = 1024
		pubBatch  = 100
		keys      = 64
	)
	topic := topicName(tb, "bench")
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	keyNames := make([]string, keys)
	for i := range keyNames {
		keyNames[i] = "key-" + strconv.Itoa(i)
	}

	var handled atomic.Int64
	done := make(chan struct{})
	target := int64(tb.N)
	h := func(_ context.Context, batch []bus.Message) error {
		if handled.Add(int64(len(batch))) >= target {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumed := make(chan error, 1)
	go func() {
		consumed <- b.Consume(ctx, bus.ConsumeOptions{Group: "bench", Topics: []string{topic}, MaxBatch: 500}, h)
	}()

	tb.SetBytes(valueSize)
	tb.ReportAllocs()
	tb.ResetTimer()
	batch := make([]bus.Message, 0, pubBatch)
	for i := range tb.N {
		batch = append(batch, bus.Message{Topic: topic, Key: keyNames[i%keys], Value: value})
		if len(batch) == pubBatch || i == tb.N-1 {
			if err := b.Publish(ctx, batch...); err != nil {
				tb.Fatalf("Publish: %v", err)
			}
			batch = batch[:0]
		}
	}
	select {
	case <-done:
	case err := <-consumed:
		tb.Fatalf("Consume returned early: %v", err)
	}
	tb.StopTimer()
	tb.ReportMetric(float64(tb.N)/tb.Elapsed().Seconds(), "msgs/s")
	cancel()
	if err := <-consumed; err != nil {
		tb.Fatalf("Consume: %v", err)
	}
}
