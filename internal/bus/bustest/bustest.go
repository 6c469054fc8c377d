// Package bustest is the contract test suite every bus.Bus implementation
// runs, so the in-process and Kafka buses are held to the same guarantees:
// delivery of everything published, per-key order, independent consumer
// groups, resumption from committed offsets, retries, dead letters and
// draining.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
)

// deadline bounds every wait of the suite. It is generous on purpose: it
// only turns a hang into a failure and is never a timing assertion.
const deadline = 60 * time.Second

// Run runs the contract suite. newBus must return a fresh, empty bus for each
// subtest and arrange for it to be closed when the test ends.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"PublishConsumeAll", testPublishConsumeAll},
		{"PerKeyOrderConcurrentPublishers", testPerKeyOrder},
		{"GroupsAreIndependent", testGroupsIndependent},
		{"MembersShareAGroup", testMembersShareGroup},
		{"ResumeAfterCancel", testResumeAfterCancel},
		{"TransientFailureIsRedelivered", testTransientRedelivered},
		{"CancelDuringRetriesCommitsNothing", testCancelDuringRetries},
		{"RejectedGoesToDeadLetters", testRejected},
		{"PermanentBatchErrorIsolatesBadMessages", testPermanent},
		{"GivesUpAfterMaxAttempts", testMaxAttempts},
		{"WaitIdleAfterConsumption", testWaitIdle},
		{"WaitIdleCoversDeclaredGroups", testWaitIdleDeclared},
		{"InvalidOptions", testInvalidOptions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newBus(t))
		})
	}
}

// topicName returns a topic name unique to the test.
func topicName(t testing.TB, suffix string) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return strings.ToLower(name + "-" + suffix)
}

// messages builds n messages on topic whose keys cycle through keys and
// whose values are "<key>:<seq>", seq counting per key from 0.
func messages(topic string, n, keys int) []bus.Message {
	seq := make([]int, keys)
	out := make([]bus.Message, n)
	for i := range out {
		k := i % keys
		key := "key-" + strconv.Itoa(k)
		out[i] = bus.Message{
			Topic:   topic,
			Key:     key,
			Value:   []byte(key + ":" + strconv.Itoa(seq[k])),
			Headers: map[string]string{"seq": strconv.Itoa(seq[k])},
		}
		seq[k]++
	}
	return out
}

// recorder is a Handler that records what it was handed.
type recorder struct {
	mu   sync.Mutex
	seen []bus.Message
	// fail, when set, decides the handler's result for a batch before it
	// is recorded; a failing batch is not recorded.
	fail func(batch []bus.Message) error
}

func (r *recorder) handle(_ context.Context, batch []bus.Message) error {
	if r.fail != nil {
		if err := r.fail(batch); err != nil {
			var rej *bus.RejectError
			if !errors.As(err, &rej) {
				return err
			}
			rejected := make(map[int]bool)
			for _, x := range rej.Rejected {
				rejected[x.Index] = true
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			for i, m := range batch {
				if !rejected[i] {
					r.seen = append(r.seen, m)
				}
			}
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, batch...)
	return nil
}

func (r *recorder) messages() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Message(nil), r.seen...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// barrier makes the first handler call of each of n groups wait until all
// n groups have made theirs. A group that has not committed anything keeps
// a bus from trimming what it has not seen, so tests can start several
// groups without depending on which joins first.
type barrier struct {
	arrived sync.WaitGroup
	all     chan struct{}
}

func newBarrier(n int) *barrier {
	b := &barrier{all: make(chan struct{})}
	b.arrived.Add(n)
	go func() { b.arrived.Wait(); close(b.all) }()
	return b
}

// wrap returns h delayed at its first call until every group arrived.
func (b *barrier) wrap(h bus.Handler) bus.Handler {
	var once sync.Once
	return func(ctx context.Context, batch []bus.Message) error {
		once.Do(func() {
			b.arrived.Done()
			select {
			case <-b.all:
			case <-time.After(deadline):
			}
		})
		return h(ctx, batch)
	}
}

// consumer is a running Consume call.
type consumer struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs b.Consume in the background; the consumer is stopped when the
// test ends if the test did not stop it.
func start(t testing.TB, b bus.Bus, opts bus.ConsumeOptions, h bus.Handler) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- b.Consume(ctx, opts, h) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop cancels the consumer and waits for Consume to return; it fails the
// test if Consume returned an error.
func (c *consumer) stop(t testing.TB) {
	t.Helper()
	if c.done == nil {
		return
	}
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("Consume returned %v after cancel, want nil", err)
		}
	case <-time.After(deadline):
		t.Errorf("Consume did not return within %v of its context being cancelled", deadline)
	}
	c.done = nil
}

// eventually polls cond until it holds, failing the test after deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatalf("gave up after %v waiting for %s", deadline, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func publish(t testing.TB, b bus.Bus, msgs ...bus.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatalf("Publish(%d messages): %v", len(msgs), err)
	}
}

// values returns the multiset of message values.
func values(msgs []bus.Message) map[string]int {
	out := make(map[string]int, len(msgs))
	for _, m := range msgs {
		out[string(m.Value)]++
	}
	return out
}

// fastRetry are consume options that retry without noticeable delay.
func fastRetry(group string, topics ...string) bus.ConsumeOptions {
	return bus.ConsumeOptions{
		Group:      group,
		Topics:     topics,
		MaxBatch:   50,
		Backoff:    time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}
}

func testPublishConsumeAll(t *testing.T, b bus.Bus) {
	topic := topicName(t, "events")
	want := messages(topic, 1000, 17)
	for i := 0; i < len(want); i += 100 {
		publish(t, b, want[i:i+100]...)
	}
	var r recorder
	start(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 64}, r.handle)
	eventually(t, "all messages", func() bool { return r.count() >= len(want) })

	got := r.messages()
	if len(got) != len(want) {
		t.Errorf("handled %d messages, want %d (duplicates without failures)", len(got), len(want))
	}
	gotValues := values(got)
	for _, m := range want {
		if gotValues[string(m.Value)] != 1 {
			t.Errorf("message %q handled %d times, want 1", m.Value, gotValues[string(m.Value)])
		}
	}
	for _, m := range got {
		if m.Topic != topic {
			t.Errorf("message %q has topic %q, want %q", m.Value, m.Topic, topic)
		}
		key, seq, _ := strings.Cut(string(m.Value), ":")
		if m.Key != key || m.Headers["seq"] != seq {
			t.Errorf("message %q arrived with key %q and seq header %q", m.Value, m.Key, m.Headers["seq"])
		}
		if m.Time.IsZero() {
			t.Errorf("message %q arrived without a time", m.Value)
		}
	}
}

func testPerKeyOrder(t *testing.T, b bus.Bus) {
	topic := topicName(t, "ordered")
	const publishers, keysPer, perKey = 6, 5, 40
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range perKey {
				batch := make([]bus.Message, 0, keysPer)
				for k := range keysPer {
					key := fmt.Sprintf("p%d-k%d", p, k)
					batch = append(batch, bus.Message{Topic: topic, Key: key, Value: []byte(key + ":" + strconv.Itoa(seq))})
				}
				if err := b.Publish(context.Background(), batch...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var r recorder
	start(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 37}, r.handle)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Publish: %v", err)
	}
	total := publishers * keysPer * perKey
	eventually(t, "all messages", func() bool { return r.count() >= total })

	next := make(map[string]int)
	for _, m := range r.messages() {
		key, seqText, _ := strings.Cut(string(m.Value), ":")
		seq, _ := strconv.Atoi(seqText)
		if seq != next[key] {
			t.Fatalf("key %s: got seq %d, want %d (order broken)", key, seq, next[key])
		}
		next[key]++
	}
	if len(next) != publishers*keysPer {
		t.Errorf("saw %d keys, want %d", len(next), publishers*keysPer)
	}
}

func testGroupsIndependent(t *testing.T, b bus.Bus) {
	topic := topicName(t, "fanout")
	want := messages(topic, 300, 7)
	var a, c recorder
	// A bus need not keep messages that every group subscribed so far has
	// committed, so neither group commits before both have joined.
	publish(t, b, want[:150]...)
	joined := newBarrier(2)
	start(t, b, bus.ConsumeOptions{Group: "alpha", Topics: []string{topic}}, joined.wrap(a.handle))
	start(t, b, bus.ConsumeOptions{Group: "beta", Topics: []string{topic}}, joined.wrap(c.handle))
	eventually(t, "both groups to start", func() bool { return a.count() > 0 && c.count() > 0 })
	publish(t, b, want[150:]...)
	eventually(t, "both groups to see everything", func() bool {
		return a.count() >= len(want) && c.count() >= len(want)
	})
	for name, r := range map[string]*recorder{"alpha": &a, "beta": &c} {
		got := values(r.messages())
		for _, m := range want {
			if got[string(m.Value)] != 1 {
				t.Errorf("group %s handled %q %d times, want 1", name, m.Value, got[string(m.Value)])
			}
		}
	}
}

func testMembersShareGroup(t *testing.T, b bus.Bus) {
	topic := topicName(t, "shared")
	want := messages(topic, 400, 40)
	var r1, r2 recorder
	start(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 20}, r1.handle)
	publish(t, b, want[:200]...)
	start(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 20}, r2.handle)
	publish(t, b, want[200:]...)
	got := func() map[string]int {
		return values(append(r1.messages(), r2.messages()...))
	}
	eventually(t, "every message handled by the group", func() bool {
		seen := got()
		for _, m := range want {
			if seen[string(m.Value)] == 0 {
				return false
			}
		}
		return true
	})
	// Redeliveries around the rebalance are allowed (at-least-once); loss
	// is not, and the eventual check above proves there was none.
}

func testResumeAfterCancel(t *testing.T, b bus.Bus) {
	topic := topicName(t, "resume")
	want := messages(topic, 600, 13)
	publish(t, b, want...)

	// The first consumer cancels itself from inside its handler once it has
	// handled half; the batch in hand is finished and committed.
	ctx, cancel := context.WithCancel(context.Background())
	var first recorder
	firstHandler := func(ctx context.Context, batch []bus.Message) error {
		err := first.handle(ctx, batch)
		if first.count() >= len(want)/2 {
			cancel()
		}
		return err
	}
	opts := bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 25}
	if err := b.Consume(ctx, opts, firstHandler); err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	if first.count() >= len(want) {
		t.Fatalf("first consumer handled all %d messages before stopping; the test needs it to stop mid-stream", first.count())
	}

	extra := messages(topicName(t, "resume"), 50, 3)
	for i := range extra {
		extra[i].Value = append([]byte("late-"), extra[i].Value...)
	}
	publish(t, b, extra...)
	var second recorder
	start(t, b, opts, second.handle)
	total := len(want) + len(extra)
	eventually(t, "the second consumer to handle the rest", func() bool {
		return first.count()+second.count() >= total
	})

	seen := values(append(first.messages(), second.messages()...))
	for _, m := range append(want, extra...) {
		if seen[string(m.Value)] != 1 {
			t.Errorf("message %q handled %d times across the restart, want exactly 1", m.Value, seen[string(m.Value)])
		}
	}
}

func testTransientRedelivered(t *testing.T, b bus.Bus) {
	topic := topicName(t, "flaky")
	want := messages(topic, 50, 5)
	var failures atomic.Int32
	r := recorder{fail: func(batch []bus.Message) error {
		for _, m := range batch {
			if string(m.Value) == "key-2:3" && failures.Add(1) <= 2 {
				return errors.New("database is down")
			}
		}
		return nil
	}}
	start(t, b, fastRetry("g", topic), r.handle)
	publish(t, b, want...)
	eventually(t, "all messages despite failures", func() bool { return r.count() >= len(want) })
	if got := failures.Load(); got < 3 {
		t.Errorf("the failing message was attempted %d times, want at least 3 (2 failures then success)", got)
	}
	got := values(r.messages())
	for _, m := range want {
		if got[string(m.Value)] == 0 {
			t.Errorf("message %q was never handled", m.Value)
		}
	}
}

func testCancelDuringRetries(t *testing.T, b bus.Bus) {
	topic := topicName(t, "stuck")
	want := messages(topic, 20, 1) // one key: one partition, one order
	publish(t, b, want...)

	// The first consumer never succeeds and retries forever; it is stopped
	// while retrying, so nothing may be committed.
	var attempts atomic.Int32
	opts := fastRetry("g", topic)
	opts.MaxAttempts = -1
	stuck := start(t, b, opts, func(context.Context, []bus.Message) error {
		attempts.Add(1)
		return errors.New("downstream unavailable")
	})
	eventually(t, "the first consumer to retry", func() bool { return attempts.Load() >= 3 })
	stuck.stop(t)

	var r recorder
	start(t, b, opts, r.handle)
	eventually(t, "the second consumer to get everything", func() bool { return r.count() >= len(want) })
	got := r.messages()
	for i, m := range want {
		if i >= len(got) || string(got[i].Value) != string(m.Value) {
			t.Fatalf("second consumer got %v, want every message from the start in order", values(got))
		}
	}
}

// deadLetters consumes the dead-letter topic of topic into a recorder.
func deadLetters(t testing.TB, b bus.Bus, topic string) *recorder {
	var r recorder
	start(t, b, bus.ConsumeOptions{Group: "dlq-reader", Topics: []string{bus.DeadLetterTopic(topic)}}, r.handle)
	return &r
}

func checkDeadLetter(t testing.TB, m bus.Message, topic, group string, wantReason func(string) bool) {
	t.Helper()
	if m.Topic != bus.DeadLetterTopic(topic) {
		t.Errorf("dead letter on topic %q, want %q", m.Topic, bus.DeadLetterTopic(topic))
	}
	h := m.Headers
	if !wantReason(h[bus.HeaderDLQReason]) {
		t.Errorf("dead letter %q has reason %q", m.Value, h[bus.HeaderDLQReason])
	}
	if h[bus.HeaderDLQTopic] != topic || h[bus.HeaderDLQGroup] != group {
		t.Errorf("dead letter %q has topic header %q and group header %q, want %q and %q",
			m.Value, h[bus.HeaderDLQTopic], h[bus.HeaderDLQGroup], topic, group)
	}
	if _, err := strconv.ParseInt(h[bus.HeaderDLQPartition], 10, 32); err != nil {
		t.Errorf("dead letter %q: partition header: %v", m.Value, err)
	}
	if _, err := strconv.ParseInt(h[bus.HeaderDLQOffset], 10, 64); err != nil {
		t.Errorf("dead letter %q: offset header: %v", m.Value, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, h[bus.HeaderDLQTime]); err != nil {
		t.Errorf("dead letter %q: time header: %v", m.Value, err)
	}
	if h["seq"] == "" {
		t.Errorf("dead letter %q lost the original headers: %v", m.Value, h)
	}
}

func testRejected(t *testing.T, b bus.Bus) {
	topic := topicName(t, "rejects")
	want := messages(topic, 40, 4)
	bad := "key-1:5"
	r := recorder{fail: func(batch []bus.Message) error {
		var rs []bus.Rejected
		for i, m := range batch {
			if string(m.Value) == bad {
				rs = append(rs, bus.Rejected{Index: i, Err: errors.New("malformed record")})
			}
		}
		return bus.Reject(rs...)
	}}
	dlq := deadLetters(t, b, topic)
	start(t, b, fastRetry("g", topic), r.handle)
	publish(t, b, want...)
	eventually(t, "the good messages and the dead letter", func() bool {
		return r.count() >= len(want)-1 && dlq.count() >= 1
	})
	got := values(r.messages())
	for _, m := range want {
		if string(m.Value) != bad && got[string(m.Value)] != 1 {
			t.Errorf("message %q handled %d times, want 1", m.Value, got[string(m.Value)])
		}
	}
	if got[bad] != 0 {
		t.Errorf("rejected message was recorded as handled")
	}
	letters := dlq.messages()
	if len(letters) != 1 || string(letters[0].Value) != bad || letters[0].Key != "key-1" {
		t.Fatalf("dead letters = %v, want just %q", values(letters), bad)
	}
	checkDeadLetter(t, letters[0], topic, "g", func(r string) bool { return r == "malformed record" })
}

func testPermanent(t *testing.T, b bus.Bus) {
	topic := topicName(t, "permanent")
	want := messages(topic, 60, 6)
	bad := map[string]bool{"key-2:1": true, "key-5:7": true}
	r := recorder{fail: func(batch []bus.Message) error {
		for _, m := range batch {
			if bad[string(m.Value)] {
				return bus.Permanent(fmt.Errorf("cannot decode %s", m.Value))
			}
		}
		return nil
	}}
	dlq := deadLetters(t, b, topic)
	start(t, b, fastRetry("g", topic), r.handle)
	publish(t, b, want...)
	eventually(t, "good messages and two dead letters", func() bool {
		return r.count() >= len(want)-len(bad) && dlq.count() >= len(bad)
	})
	got := values(r.messages())
	for _, m := range want {
		v := string(m.Value)
		if bad[v] && got[v] != 0 {
			t.Errorf("bad message %q was handled", v)
		}
		if !bad[v] && got[v] == 0 {
			t.Errorf("good message %q was not handled", v)
		}
	}
	letters := dlq.messages()
	if len(letters) != len(bad) {
		t.Fatalf("dead letters = %v, want exactly %v", values(letters), bad)
	}
	for _, m := range letters {
		if !bad[string(m.Value)] {
			t.Errorf("good message %q was dead-lettered", m.Value)
		}
		checkDeadLetter(t, m, topic, "g", func(r string) bool { return r == "cannot decode "+string(m.Value) })
	}
}

func testMaxAttempts(t *testing.T, b bus.Bus) {
	topic := topicName(t, "poison")
	want := messages(topic, 30, 3)
	poison := "key-0:4"
	var attempts atomic.Int32
	r := recorder{fail: func(batch []bus.Message) error {
		for _, m := range batch {
			if string(m.Value) == poison {
				attempts.Add(1)
				return errors.New("timeout talking to the store")
			}
		}
		return nil
	}}
	dlq := deadLetters(t, b, topic)
	opts := fastRetry("g", topic)
	opts.MaxAttempts = 3
	start(t, b, opts, r.handle)
	publish(t, b, want...)
	eventually(t, "good messages and the dead letter", func() bool {
		return r.count() >= len(want)-1 && dlq.count() >= 1
	})
	if n := attempts.Load(); n < 3 {
		t.Errorf("poison message attempted %d times, want at least MaxAttempts=3", n)
	}
	letters := dlq.messages()
	if len(letters) != 1 || string(letters[0].Value) != poison {
		t.Fatalf("dead letters = %v, want just %q", values(letters), poison)
	}
	checkDeadLetter(t, letters[0], topic, "g", func(r string) bool {
		return r == "gave up after 3 attempts: timeout talking to the store"
	})
	if got := values(r.messages()); got[poison] != 0 {
		t.Errorf("poison message recorded as handled")
	}
}

func testWaitIdle(t *testing.T, b bus.Bus) {
	d, ok := b.(bus.Drainer)
	if !ok {
		t.Fatalf("%T does not implement bus.Drainer", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := d.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle without consumers: %v", err)
	}
	topic := topicName(t, "drain")
	other := topicName(t, "drain-other")
	want := messages(topic, 500, 9)
	publish(t, b, want...)
	publish(t, b, messages(other, 20, 2)...)
	var r, o recorder
	joined := newBarrier(2)
	start(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{topic}, MaxBatch: 30}, joined.wrap(r.handle))
	start(t, b, bus.ConsumeOptions{Group: "h", Topics: []string{topic, other}, MaxBatch: 30}, joined.wrap(o.handle))
	// WaitIdle covers the groups consuming when it is called; make sure
	// both have joined.
	eventually(t, "both groups to start", func() bool { return r.count() > 0 && o.count() > 0 })
	if err := d.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	// No polling here: WaitIdle promised everything was handled.
	if got := r.count(); got < len(want) {
		t.Errorf("after WaitIdle group g handled %d of %d messages", got, len(want))
	}
	if got := o.count(); got < len(want)+20 {
		t.Errorf("after WaitIdle group h handled %d of %d messages", got, len(want)+20)
	}
}

func testWaitIdleDeclared(t *testing.T, b bus.Bus) {
	decl, ok := b.(bus.GroupDeclarer)
	if !ok {
		t.Fatalf("%T does not implement bus.GroupDeclarer", b)
	}
	topic := topicName(t, "declared")
	if err := decl.DeclareGroup("g", topic); err != nil {
		t.Fatalf("DeclareGroup: %v", err)
	}
	if err := decl.DeclareGroup("", topic); err == nil {
		t.Errorf("DeclareGroup without a group = nil, want an error")
	}
	want := messages(topic, 200, 5)
	publish(t, b, want...)
	// The consumer may join after WaitIdle is called: the declaration is
	// what makes WaitIdle wait for it.
	var r recorder
	start(t, b, bus.ConsumeOptions{Group: "g", Topics: []string{topic}}, r.handle)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := b.(bus.Drainer).WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	if got := r.count(); got < len(want) {
		t.Errorf("after WaitIdle the declared group handled %d of %d messages", got, len(want))
	}
}

func testInvalidOptions(t *testing.T, b bus.Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	h := func(context.Context, []bus.Message) error { return nil }
	for _, opts := range []bus.ConsumeOptions{
		{Topics: []string{"t"}},
		{Group: "g"},
	} {
		if err := b.Consume(ctx, opts, h); err == nil {
			t.Errorf("Consume(%+v) = nil, want an error", opts)
		}
	}
	if err := b.Consume(ctx, bus.ConsumeOptions{Group: "g", Topics: []string{"t"}}, nil); err == nil {
		t.Errorf("Consume with a nil handler = nil, want an error")
	}
	if err := b.Publish(ctx, bus.Message{Key: "k", Value: []byte("v")}); err == nil {
		t.Errorf("Publish of a message without topic = nil, want an error")
	}
}
