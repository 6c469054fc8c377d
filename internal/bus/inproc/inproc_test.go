package inproc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/bustest"
)

func TestContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		b := New(Options{})
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// stats returns how many messages topic retains and how many publishers
// are blocked on back-pressure.
func (b *Bus) stats(topic string) (retained, blocked int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[topic]; t != nil {
		retained = t.retained
	}
	return retained, b.blockedPublishers
}

// members returns how many consumers group has.
func (b *Bus) members(group string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if g := b.groups[group]; g != nil {
		return len(g.members)
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func msgs(topic string, n int) []bus.Message {
	out := make([]bus.Message, n)
	for i := range out {
		out[i] = bus.Message{Topic: topic, Key: strconv.Itoa(i % 7), Value: []byte(strconv.Itoa(i))}
	}
	return out
}

// consume runs b.Consume in the background and returns a func that cancels
// it and returns Consume's result.
func consume(t *testing.T, b *Bus, opts bus.ConsumeOptions, h bus.Handler) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, opts, h) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestBackPressureBlocksPublishUntilCommitted(t *testing.T) {
	b := New(Options{Partitions: 2, MaxBacklog: 10})
	defer b.Close()
	gate := make(chan struct{})
	var handled atomic.Int64
	consume(t, b, bus.ConsumeOptions{Group: "slow", Topics: []string{"t"}}, func(_ context.Context, batch []bus.Message) error {
		<-gate
		handled.Add(int64(len(batch)))
		return nil
	})
	waitFor(t, "the consumer to join", func() bool { return b.members("slow") == 1 })

	ctx := context.Background()
	if err := b.Publish(ctx, msgs("t", 10)...); err != nil {
		t.Fatalf("Publish within the backlog: %v", err)
	}
	published := make(chan error, 1)
	go func() { published <- b.Publish(ctx, msgs("t", 5)...) }()
	waitFor(t, "the publisher to block", func() bool { _, blocked := b.stats("t"); return blocked == 1 })
	if retained, _ := b.stats("t"); retained != 10 {
		t.Errorf("retained %d messages while blocked, want MaxBacklog=10", retained)
	}

	// A blocked publisher gives up with its context.
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { cancelled <- b.Publish(cctx, msgs("t", 1)...) }()
	waitFor(t, "the second publisher to block", func() bool { _, blocked := b.stats("t"); return blocked == 2 })
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Publish with cancelled context = %v, want context.Canceled", err)
	}

	close(gate)
	if err := <-published; err != nil {
		t.Fatalf("blocked Publish: %v", err)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != 15 {
		t.Errorf("handled %d messages, want 15", got)
	}
	if retained, _ := b.stats("t"); retained != 0 {
		t.Errorf("retained %d messages after every group committed, want 0", retained)
	}
}

func TestTrimWaitsForEveryGroupThatSubscribed(t *testing.T) {
	b := New(Options{Partitions: 3})
	defer b.Close()
	ctx := context.Background()
	noop := func(context.Context, []bus.Message) error { return nil }

	stopA := consume(t, b, bus.ConsumeOptions{Group: "a", Topics: []string{"t"}}, noop)
	waitFor(t, "group a to join", func() bool { return b.members("a") == 1 })
	stopB := consume(t, b, bus.ConsumeOptions{Group: "b", Topics: []string{"t"}}, noop)
	waitFor(t, "group b to join", func() bool { return b.members("b") == 1 })
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, msgs("t", 50)...); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if retained, _ := b.stats("t"); retained != 50 {
		t.Errorf("retained %d messages while stopped group b has not committed them, want 50", retained)
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}

	var got atomic.Int64
	consume(t, b, bus.ConsumeOptions{Group: "b", Topics: []string{"t"}}, func(_ context.Context, batch []bus.Message) error {
		got.Add(int64(len(batch)))
		return nil
	})
	waitFor(t, "group b to catch up", func() bool { retained, _ := b.stats("t"); return retained == 0 })
	if got.Load() != 50 {
		t.Errorf("restarted group b handled %d messages, want 50", got.Load())
	}
}

func TestMaxRetainedHoldsPublishersUntilAGroupSubscribes(t *testing.T) {
	b := New(Options{Partitions: 4, MaxRetained: 5, MaxBacklog: 100})
	defer b.Close()
	ctx := context.Background()
	all := msgs("t", 12)
	if err := b.Publish(ctx, all[:5]...); err != nil {
		t.Fatal(err)
	}
	published := make(chan error, 1)
	go func() { published <- b.Publish(ctx, all[5:]...) }()
	waitFor(t, "the publisher to block", func() bool { _, blocked := b.stats("t"); return blocked == 1 })
	if retained, _ := b.stats("t"); retained != 5 {
		t.Fatalf("retained %d messages without subscribers, want MaxRetained=5", retained)
	}

	var mu sync.Mutex
	var got []string
	consume(t, b, bus.ConsumeOptions{Group: "late", Topics: []string{"t"}}, func(_ context.Context, batch []bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			got = append(got, string(m.Value))
		}
		return nil
	})
	if err := <-published; err != nil {
		t.Fatalf("blocked Publish: %v", err)
	}
	waitFor(t, "every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(all) })
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(got, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("late group got %v, want all 12 messages", got)
		}
	}
}

func TestMembersOfAGroupSplitPartitions(t *testing.T) {
	b := New(Options{Partitions: 4})
	defer b.Close()
	var mu sync.Mutex
	owner := make(map[int32]map[int]bool) // partition -> members that handled it
	handler := func(id int) bus.Handler {
		return func(_ context.Context, batch []bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				if owner[m.Partition] == nil {
					owner[m.Partition] = make(map[int]bool)
				}
				owner[m.Partition][id] = true
			}
			return nil
		}
	}
	opts := bus.ConsumeOptions{Group: "g", Topics: []string{"t"}}
	consume(t, b, opts, handler(1))
	consume(t, b, opts, handler(2))
	waitFor(t, "both members to join", func() bool { return b.members("g") == 2 })
	ctx := context.Background()
	if err := b.Publish(ctx, msgs("t", 400)...); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	members := make(map[int]bool)
	for p, ids := range owner {
		if len(ids) != 1 {
			t.Errorf("partition %d was handled by members %v, want exactly one", p, ids)
		}
		for id := range ids {
			members[id] = true
		}
	}
	if len(members) != 2 {
		t.Errorf("work went to members %v, want both", members)
	}
}

func TestCloseStopsConsumersAndPublishers(t *testing.T) {
	b := New(Options{})
	stop := consume(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{"t"}}, func(context.Context, []bus.Message) error { return nil })
	waitFor(t, "the consumer to join", func() bool { return b.members("g") == 1 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume after Close = %v, want bus.ErrClosed", err)
	}
	ctx := context.Background()
	if err := b.Publish(ctx, msgs("t", 1)...); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want bus.ErrClosed", err)
	}
	noop := func(context.Context, []bus.Message) error { return nil }
	if err := b.Consume(ctx, bus.ConsumeOptions{Group: "g", Topics: []string{"t"}}, noop); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume on a closed bus = %v, want bus.ErrClosed", err)
	}
	if err := b.WaitIdle(ctx); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("WaitIdle on a closed bus = %v, want bus.ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestPublishCopiesMessages(t *testing.T) {
	b := New(Options{Partitions: 1})
	defer b.Close()
	value := []byte("original")
	headers := map[string]string{"h": "original"}
	if err := b.Publish(context.Background(), bus.Message{Topic: "t", Key: "k", Value: value, Headers: headers}); err != nil {
		t.Fatal(err)
	}
	copy(value, "mutated!")
	headers["h"] = "mutated"
	got := make(chan bus.Message, 1)
	consume(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{"t"}}, func(_ context.Context, batch []bus.Message) error {
		got <- batch[0]
		return nil
	})
	m := <-got
	if string(m.Value) != "original" || m.Headers["h"] != "original" {
		t.Errorf("consumed %q with headers %v; the publisher's later changes leaked in", m.Value, m.Headers)
	}
}

func BenchmarkPublishConsume(b *testing.B) {
	bus := New(Options{})
	defer bus.Close()
	bustest.Benchmark(b, bus)
}

func TestDeclaredGroupMissesNothing(t *testing.T) {
	b := New(Options{Partitions: 3})
	defer b.Close()
	if err := b.DeclareGroup("late", "t"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareGroup("", "t"); err == nil {
		t.Error("DeclareGroup without a name = nil, want an error")
	}
	ctx := context.Background()
	var early atomic.Int64
	consume(t, b, bus.ConsumeOptions{Group: "early", Topics: []string{"t"}}, func(_ context.Context, batch []bus.Message) error {
		early.Add(int64(len(batch)))
		return nil
	})
	if err := b.Publish(ctx, msgs("t", 30)...); err != nil {
		t.Fatal(err)
	}
	// WaitIdle would wait for the declared group too; watch early alone.
	waitFor(t, "group early to handle everything", func() bool { return early.Load() == 30 })
	if retained, _ := b.stats("t"); retained != 30 {
		t.Fatalf("retained %d messages for the declared group, want 30", retained)
	}
	var got atomic.Int64
	consume(t, b, bus.ConsumeOptions{Group: "late", Topics: []string{"t"}}, func(_ context.Context, batch []bus.Message) error {
		got.Add(int64(len(batch)))
		return nil
	})
	waitFor(t, "the declared group to catch up", func() bool { retained, _ := b.stats("t"); return retained == 0 })
	if got.Load() != 30 {
		t.Errorf("declared group handled %d messages, want 30", got.Load())
	}
}
