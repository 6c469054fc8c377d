package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// quiet discards the dispatcher's logs; the tests check behaviour.
var quiet = slog.New(slog.DiscardHandler)

// memPublisher records dead letters; the first failures publishes fail.
type memPublisher struct {
	mu       sync.Mutex
	failures int
	msgs     []Message
}

func (p *memPublisher) Publish(_ context.Context, msgs ...Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		p.failures--
		return errors.New("broker unavailable")
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func batchOf(topic string, values ...string) []Message {
	out := make([]Message, len(values))
	for i, v := range values {
		out[i] = Message{Topic: topic, Key: v, Value: []byte(v), Partition: 1, Offset: int64(10 + i), Headers: map[string]string{"orig": v}}
	}
	return out
}

// scripted is a handler driven by a per-call function; it records calls.
type scripted struct {
	calls [][]string
	fn    func(call int, batch []Message) error
}

func (s *scripted) handle(_ context.Context, batch []Message) error {
	var vs []string
	for _, m := range batch {
		vs = append(vs, string(m.Value))
	}
	s.calls = append(s.calls, vs)
	return s.fn(len(s.calls), batch)
}

func has(batch []Message, v string) bool {
	return slices.ContainsFunc(batch, func(m Message) bool { return string(m.Value) == v })
}

func TestDispatch(t *testing.T) {
	errDown := errors.New("store down")
	tests := []struct {
		name        string
		batch       []string
		maxAttempts int
		dlqFailures int
		fn          func(call int, batch []Message) error
		wantCalls   [][]string
		wantDead    map[string]string // value -> reason
	}{
		{
			name:      "success",
			batch:     []string{"a", "b"},
			fn:        func(int, []Message) error { return nil },
			wantCalls: [][]string{{"a", "b"}},
		},
		{
			name:  "transient then success",
			batch: []string{"a", "b"},
			fn: func(call int, _ []Message) error {
				if call < 3 {
					return errDown
				}
				return nil
			},
			wantCalls: [][]string{{"a", "b"}, {"a", "b"}, {"a", "b"}},
		},
		{
			name:  "reject dead-letters only the listed, dedups and ignores bad indexes",
			batch: []string{"a", "b", "c"},
			fn: func(int, []Message) error {
				return Reject(
					Rejected{Index: 1, Err: errors.New("bad b")},
					Rejected{Index: 1, Err: errors.New("bad b again")},
					Rejected{Index: 7, Err: errors.New("out of range")},
					Rejected{Index: -1},
				)
			},
			wantCalls: [][]string{{"a", "b", "c"}},
			wantDead:  map[string]string{"b": "bad b"},
		},
		{
			name:  "wrapped reject without reason",
			batch: []string{"a"},
			fn: func(int, []Message) error {
				return fmt.Errorf("handler: %w", Reject(Rejected{Index: 0}))
			},
			wantCalls: [][]string{{"a"}},
			wantDead:  map[string]string{"a": "rejected by handler"},
		},
		{
			name:  "permanent splits the batch",
			batch: []string{"a", "b", "c"},
			fn: func(_ int, batch []Message) error {
				if has(batch, "b") {
					return Permanent(errors.New("cannot parse b"))
				}
				return nil
			},
			wantCalls: [][]string{{"a", "b", "c"}, {"a"}, {"b"}, {"c"}},
			wantDead:  map[string]string{"b": "cannot parse b"},
		},
		{
			name:        "gives up after max attempts, then isolates",
			batch:       []string{"a", "b"},
			maxAttempts: 2,
			fn: func(_ int, batch []Message) error {
				if has(batch, "a") {
					return errDown
				}
				return nil
			},
			wantCalls: [][]string{{"a", "b"}, {"a", "b"}, {"a"}, {"a"}, {"b"}},
			wantDead:  map[string]string{"a": "gave up after 2 attempts: store down"},
		},
		{
			name:        "negative max attempts retries until success",
			batch:       []string{"a"},
			maxAttempts: -1,
			fn: func(call int, _ []Message) error {
				if call < 12 {
					return errDown
				}
				return nil
			},
			wantCalls: slices.Repeat([][]string{{"a"}}, 12),
		},
		{
			name:  "panic is a permanent failure",
			batch: []string{"a", "boom"},
			fn: func(_ int, batch []Message) error {
				if has(batch, "boom") {
					panic("nil map")
				}
				return nil
			},
			wantCalls: [][]string{{"a", "boom"}, {"a"}, {"boom"}},
			wantDead:  map[string]string{"boom": "handler panicked: nil map"},
		},
		{
			name:        "dead-letter publishing is retried",
			batch:       []string{"a"},
			dlqFailures: 3,
			fn:          func(int, []Message) error { return Permanent(errors.New("no")) },
			wantCalls:   [][]string{{"a"}},
			wantDead:    map[string]string{"a": "no"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &scripted{fn: tt.fn}
			dlq := &memPublisher{failures: tt.dlqFailures}
			group := "g-" + t.Name()
			opts := ConsumeOptions{Group: group, Topics: []string{"t"}, MaxAttempts: tt.maxAttempts, Backoff: time.Microsecond, MaxBackoff: 10 * time.Microsecond}
			deadBefore := testutil.ToFloat64(deadLettersTotal.WithLabelValues("t", group))
			handledBefore := testutil.ToFloat64(handledTotal.WithLabelValues("t", group))
			d := NewDispatcher(h.handle, opts, dlq, quiet)
			if err := d.Dispatch(context.Background(), batchOf("t", tt.batch...)); err != nil {
				t.Fatalf("Dispatch: %v", err)
			}
			if !slices.EqualFunc(h.calls, tt.wantCalls, slices.Equal) {
				t.Errorf("handler calls = %v, want %v", h.calls, tt.wantCalls)
			}
			got := make(map[string]string)
			for _, m := range dlq.msgs {
				got[string(m.Value)] = m.Headers[HeaderDLQReason]
				if m.Topic != "t.dlq" || m.Headers[HeaderDLQTopic] != "t" || m.Headers[HeaderDLQGroup] != group ||
					m.Headers[HeaderDLQPartition] != "1" || m.Headers["orig"] != string(m.Value) {
					t.Errorf("dead letter %q has topic %q and headers %v", m.Value, m.Topic, m.Headers)
				}
				want := strconv.Itoa(10 + slices.Index(tt.batch, string(m.Value)))
				if m.Headers[HeaderDLQOffset] != want {
					t.Errorf("dead letter %q has offset header %q, want %s", m.Value, m.Headers[HeaderDLQOffset], want)
				}
				if _, err := time.Parse(time.RFC3339Nano, m.Headers[HeaderDLQTime]); err != nil {
					t.Errorf("dead letter %q time header: %v", m.Value, err)
				}
			}
			if len(got) != len(tt.wantDead) || len(dlq.msgs) != len(tt.wantDead) {
				t.Fatalf("dead letters = %v, want %v", got, tt.wantDead)
			}
			for v, reason := range tt.wantDead {
				if got[v] != reason {
					t.Errorf("dead letter %q reason = %q, want %q", v, got[v], reason)
				}
			}
			wantDead := float64(len(tt.wantDead))
			if n := testutil.ToFloat64(deadLettersTotal.WithLabelValues("t", group)) - deadBefore; n != wantDead {
				t.Errorf("kubeward_bus_dead_letters_total grew by %v, want %v", n, wantDead)
			}
			handled := float64(len(tt.batch) - len(tt.wantDead))
			if n := testutil.ToFloat64(handledTotal.WithLabelValues("t", group)) - handledBefore; n != handled {
				t.Errorf("kubeward_bus_messages_handled_total grew by %v, want %v", n, handled)
			}
		})
	}
}

func TestDispatchStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	h := func(context.Context, []Message) error {
		calls++
		if calls == 2 {
			cancel()
		}
		return errors.New("still down")
	}
	// A long backoff: only cancellation can end the wait.
	opts := ConsumeOptions{Group: "g", MaxAttempts: -1, Backoff: time.Millisecond, MaxBackoff: time.Hour}
	d := NewDispatcher(h, opts, &memPublisher{}, quiet)
	if err := d.Dispatch(ctx, batchOf("t", "a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dispatch = %v, want context.Canceled", err)
	}
	if calls != 2 {
		t.Errorf("handler called %d times, want 2", calls)
	}

	// A handler that finishes despite the cancellation has handled the batch.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	d = NewDispatcher(func(context.Context, []Message) error { return nil }, opts, &memPublisher{}, quiet)
	if err := d.Dispatch(done, batchOf("t", "a")); err != nil {
		t.Errorf("Dispatch of a handled batch with a cancelled context = %v, want nil", err)
	}
}

func TestBackoff(t *testing.T) {
	d := NewDispatcher(nil, ConsumeOptions{Group: "g", Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}, nil, nil)
	tests := []struct {
		attempt int
		max     time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			got := d.backoff(tt.attempt)
			if got < tt.max/2 || got > tt.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, tt.max/2, tt.max)
			}
		}
	}
}
