package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/bus/bustest"
)

// testOptions are bus options for a kfake cluster: fast group heartbeats so
// rebalances do not wait seconds.
func testOptions(c *kfake.Cluster) Options {
	return Options{
		Brokers:           c.ListenAddrs(),
		Partitions:        4,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		Linger:            time.Millisecond,
		// franz-go logs group changes at info; tests show warnings only.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake cluster: %v", err)
	}
	return c
}

func newBus(t testing.TB, c *kfake.Cluster) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := New(ctx, testOptions(c))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		c := newCluster(t)
		b := newBus(t, c)
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			c.Close()
		})
		return b
	})
}

func TestNewFailsWithoutBrokers(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, Options{}); err == nil {
		t.Fatal("New without brokers = nil error")
	}
	// A port nothing listens on: the ping fails once ctx ends.
	c := newCluster(t)
	addr := c.ListenAddrs()[0]
	c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := New(ctx, Options{Brokers: []string{addr}}); err == nil {
		t.Fatal("New with an unreachable broker = nil error")
	}
}

// TestResumeAcrossClusterRestart stops the whole cluster (which persists to
// a directory), starts it again on the same port and checks that the group
// resumes from its committed offsets: nothing lost, nothing handled twice.
func TestResumeAcrossClusterRestart(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, kfake.DataDir(dir), kfake.SyncWrites())
	addr := c.ListenAddrs()[0]
	_, port, _ := strings.Cut(addr, ":")
	ctx := context.Background()
	const topic = "restart"

	b := newBus(t, c)
	var mu sync.Mutex
	var seen []string
	handler := func(_ context.Context, batch []bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			seen = append(seen, string(m.Value))
		}
		return nil
	}
	first := make([]bus.Message, 100)
	for i := range first {
		first[i] = bus.Message{Topic: topic, Key: strings.Repeat("k", i%5+1), Value: []byte("first-" + strconv.Itoa(i))}
	}
	if err := b.Publish(ctx, first...); err != nil {
		t.Fatal(err)
	}
	opts := bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 10}
	consumeUntilIdle(t, b, opts, handler)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c2 := newCluster(t, kfake.DataDir(dir), kfake.SyncWrites(), kfake.Ports(mustAtoi(t, port)))
	defer c2.Close()
	b2 := newBus(t, c2)
	defer b2.Close()
	second := make([]bus.Message, 50)
	for i := range second {
		second[i] = bus.Message{Topic: topic, Key: "k", Value: []byte("second-" + strconv.Itoa(i))}
	}
	if err := b2.Publish(ctx, second...); err != nil {
		t.Fatal(err)
	}
	consumeUntilIdle(t, b2, opts, handler)

	// The log itself survived: a new group reads both generations.
	var audited sync.Map
	consumeUntilIdle(t, b2, bus.ConsumeOptions{Group: "audit", Topics: []string{topic}}, func(_ context.Context, batch []bus.Message) error {
		for _, m := range batch {
			audited.Store(string(m.Value), true)
		}
		return nil
	})
	for _, m := range slices.Concat(first, second) {
		if _, ok := audited.Load(string(m.Value)); !ok {
			t.Errorf("message %q is missing from the restarted cluster's log", m.Value)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	counts := make(map[string]int)
	for _, v := range seen {
		counts[v]++
	}
	for _, m := range slices.Concat(first, second) {
		if counts[string(m.Value)] != 1 {
			t.Errorf("message %q handled %d times across the restart, want 1", m.Value, counts[string(m.Value)])
		}
	}
}

// consumeUntilIdle consumes until WaitIdle says the group caught up. There
// must be something to consume: WaitIdle covers the groups consuming when it
// is called, so it is called once the handler ran.
func consumeUntilIdle(t *testing.T, b *Bus, opts bus.ConsumeOptions, h bus.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	called := make(chan struct{})
	var once sync.Once
	go func() {
		done <- b.Consume(ctx, opts, func(ctx context.Context, batch []bus.Message) error {
			once.Do(func() { close(called) })
			return h(ctx, batch)
		})
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer wcancel()
	select {
	case <-called:
	case err := <-done:
		t.Fatalf("Consume returned %v before handling anything", err)
	case <-wctx.Done():
		t.Fatal("the handler was never called")
	}
	if err := b.WaitIdle(wctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
}

func TestCloseStopsConsumers(t *testing.T) {
	c := newCluster(t)
	defer c.Close()
	b := newBus(t, c)
	done := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		done <- b.Consume(context.Background(), bus.ConsumeOptions{Group: "g", Topics: []string{"t"}}, func(context.Context, []bus.Message) error {
			once.Do(func() { close(started) })
			return nil
		})
	}()
	if err := b.Publish(context.Background(), bus.Message{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume after Close = %v, want bus.ErrClosed", err)
	}
	if err := b.Publish(context.Background(), bus.Message{Topic: "t"}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want bus.ErrClosed", err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "kafka://localhost:9092", want: []string{"localhost:9092"}},
		{in: "kafka://a:1,b:2,c", want: []string{"a:1", "b:2", "c:9092"}},
		{in: "kafka://kafka-0.kafka.svc:19092/", want: []string{"kafka-0.kafka.svc:19092"}},
		{in: "kafka://[::1]:9093,[fe80::1]", want: []string{"[::1]:9093", "[fe80::1]:9092"}},
		{in: "kafka://10.0.0.1", want: []string{"10.0.0.1:9092"}},
		{in: "localhost:9092", wantErr: "does not start with"},
		{in: "inproc://", wantErr: "does not start with"},
		{in: "kafka://", wantErr: "names no broker"},
		{in: "kafka://a:9092,", wantErr: "has no valid host"},
		{in: "kafka://user:pw@a:9092", wantErr: "may only list brokers"},
		{in: "kafka://a:9092/topic", wantErr: "may only list brokers"},
		{in: "kafka://a:9092?tls=1", wantErr: "may only list brokers"},
		{in: "kafka://a:0", wantErr: "invalid port"},
		{in: "kafka://a:65536", wantErr: "invalid port"},
		{in: "kafka://a:", wantErr: "invalid port"},
		{in: "kafka://a:http", wantErr: "invalid port"},
		{in: "kafka://::1", wantErr: "too many colons"},
		{in: "kafka://:9092", wantErr: "has no valid host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURL(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseURL(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"kafka://localhost:9092", "kafka://a:1,b,[::1]:3", "kafka://[", "kafka://a:99999", "http://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		brokers, err := ParseURL(raw)
		if err != nil {
			return
		}
		if len(brokers) == 0 {
			t.Fatalf("ParseURL(%q) returned no brokers and no error", raw)
		}
		for _, b := range brokers {
			host, port, err := net.SplitHostPort(b)
			if err != nil || host == "" || port == "" {
				t.Fatalf("ParseURL(%q) returned unusable broker %q", raw, b)
			}
		}
	})
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}

func BenchmarkPublishConsume(b *testing.B) {
	c := newCluster(b)
	defer c.Close()
	k := newBus(b, c)
	defer k.Close()
	bustest.Benchmark(b, k)
}

// TestWaitIdleBeforeTopicsExist calls WaitIdle while a consumer may still be
// creating its topics: a topic nobody published to has nothing to wait for.
func TestWaitIdleBeforeTopicsExist(t *testing.T) {
	c := newCluster(t)
	defer c.Close()
	b := newBus(t, c)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.Consume(ctx, bus.ConsumeOptions{Group: "g", Topics: []string{"not-yet"}}, func(context.Context, []bus.Message) error { return nil })
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer wcancel()
	if err := b.WaitIdle(wctx); err != nil {
		t.Errorf("WaitIdle = %v, want nil", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Consume = %v", err)
	}
}
