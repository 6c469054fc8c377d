package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"time"
)

// Dispatcher applies the delivery policy of ConsumeOptions to batches: it
// calls the Handler, retries transient failures with exponential backoff and
// jitter, isolates the messages of a batch that fail permanently and moves
// the ones that can never be handled to their dead-letter topic. Every Bus
// implementation runs its batches through a Dispatcher so the policy exists
// once.
//
// A Dispatcher may be used by one goroutine at a time.
type Dispatcher struct {
	handler     Handler
	opts        ConsumeOptions
	deadLetters Publisher
	log         *slog.Logger
	now         func() time.Time
}

// NewDispatcher returns a Dispatcher that runs h with the policy of opts
// (defaults applied) and publishes dead letters through deadLetters. A nil
// log means slog.Default().
func NewDispatcher(h Handler, opts ConsumeOptions, deadLetters Publisher, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{
		handler:     h,
		opts:        opts.WithDefaults(),
		deadLetters: deadLetters,
		log:         log.With("group", opts.Group),
		now:         time.Now,
	}
}

// Dispatch returns nil once every message of batch was either handled or
// dead-lettered; the caller may then commit the whole batch. It returns
// ctx.Err() when ctx ends first, and then nothing of the batch may be
// committed (some messages may have been handled or dead-lettered already;
// delivery is at-least-once).
//
// A handler that returns nil while ctx is cancelled has handled its batch:
// the batch in hand is finished, not abandoned.
func (d *Dispatcher) Dispatch(ctx context.Context, batch []Message) error {
	if len(batch) == 0 {
		return nil
	}
	return d.run(ctx, batch)
}

// run delivers batch until it is handled or dead-lettered.
func (d *Dispatcher) run(ctx context.Context, batch []Message) error {
	for attempt := 1; ; attempt++ {
		err := d.call(ctx, batch)
		if err == nil {
			for topic, n := range countByTopic(batch) {
				handledTotal.WithLabelValues(topic, d.opts.Group).Add(float64(n))
			}
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}

		var rej *RejectError
		if errors.As(err, &rej) {
			return d.reject(ctx, batch, rej)
		}
		if IsPermanent(err) {
			d.countErrors(batch, ErrorKindPermanent)
			if len(batch) == 1 {
				return d.deadLetter(ctx, batch, []string{err.Error()})
			}
			d.log.Debug("bus: batch failed permanently, retrying its messages one by one",
				"messages", len(batch), "error", err)
			return d.isolate(ctx, batch)
		}

		d.countErrors(batch, ErrorKindTransient)
		if d.opts.MaxAttempts > 0 && attempt >= d.opts.MaxAttempts {
			if len(batch) == 1 {
				reason := fmt.Sprintf("gave up after %d attempts: %v", attempt, err)
				return d.deadLetter(ctx, batch, []string{reason})
			}
			d.log.Warn("bus: batch keeps failing, retrying its messages one by one",
				"messages", len(batch), "attempts", attempt, "error", err)
			return d.isolate(ctx, batch)
		}
		delay := d.backoff(attempt)
		d.log.Debug("bus: handler failed, retrying",
			"messages", len(batch), "attempt", attempt, "delay", delay, "error", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// isolate delivers the messages of batch one at a time, in order, so that
// only those that fail on their own are dead-lettered. Each message gets
// the full retry budget.
func (d *Dispatcher) isolate(ctx context.Context, batch []Message) error {
	for i := range batch {
		if err := d.run(ctx, batch[i:i+1]); err != nil {
			return err
		}
	}
	return nil
}

// call runs the handler once, turning a panic into a permanent error so a
// poison message cannot crash the consumer.
func (d *Dispatcher) call(ctx context.Context, batch []Message) (err error) {
	start := d.now()
	defer func() {
		handleSeconds.WithLabelValues(d.opts.Group).Observe(d.now().Sub(start).Seconds())
		if r := recover(); r != nil {
			d.countErrors(batch, ErrorKindPanic)
			d.log.Error("bus: handler panicked", "panic", r, "stack", string(debug.Stack()))
			err = Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return d.handler(ctx, batch)
}

// reject dead-letters the messages rej names; the others were handled.
func (d *Dispatcher) reject(ctx context.Context, batch []Message, rej *RejectError) error {
	reasons := make([]string, len(batch))
	for _, r := range rej.Rejected {
		if r.Index < 0 || r.Index >= len(batch) {
			handlerErrorsTotal.WithLabelValues(batch[0].Topic, d.opts.Group, ErrorKindInvalidReject).Inc()
			d.log.Error("bus: handler rejected a message outside its batch; ignoring the rejection",
				"index", r.Index, "batch_size", len(batch), "error", r.Err)
			continue
		}
		if reasons[r.Index] != "" {
			continue // rejected twice: one dead letter is enough
		}
		reason := "rejected by handler"
		if r.Err != nil {
			reason = r.Err.Error()
		}
		reasons[r.Index] = reason
		handlerErrorsTotal.WithLabelValues(batch[r.Index].Topic, d.opts.Group, ErrorKindReject).Inc()
	}
	var handled []Message
	for i := range batch {
		if reasons[i] == "" {
			handled = append(handled, batch[i])
		}
	}
	for topic, n := range countByTopic(handled) {
		handledTotal.WithLabelValues(topic, d.opts.Group).Add(float64(n))
	}
	return d.deadLetter(ctx, batch, reasons)
}

// deadLetter publishes batch[i] to its dead-letter topic for every non-empty
// reasons[i]. Publishing is retried with backoff until it succeeds or ctx
// ends: a message must never be dropped silently.
func (d *Dispatcher) deadLetter(ctx context.Context, batch []Message, reasons []string) error {
	now := d.now().UTC().Format(time.RFC3339Nano)
	var letters []Message
	for i, reason := range reasons {
		if reason == "" {
			continue
		}
		m := batch[i]
		headers := make(map[string]string, len(m.Headers)+6)
		maps.Copy(headers, m.Headers)
		headers[HeaderDLQReason] = reason
		headers[HeaderDLQTopic] = m.Topic
		headers[HeaderDLQPartition] = strconv.Itoa(int(m.Partition))
		headers[HeaderDLQOffset] = strconv.FormatInt(m.Offset, 10)
		headers[HeaderDLQGroup] = d.opts.Group
		headers[HeaderDLQTime] = now
		letters = append(letters, Message{
			Topic:   DeadLetterTopic(m.Topic),
			Key:     m.Key,
			Value:   m.Value,
			Headers: headers,
		})
		d.log.Warn("bus: message dead-lettered", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "key", m.Key, "reason", reason)
	}
	if len(letters) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := d.deadLetters.Publish(ctx, letters...)
		if err == nil {
			break
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		ObserveConsumerError(d.opts.Group, ErrorKindDeadLetter)
		delay := d.backoff(attempt)
		d.log.Error("bus: cannot publish dead letters, retrying",
			"messages", len(letters), "attempt", attempt, "delay", delay, "error", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
	for i := range letters {
		deadLettersTotal.WithLabelValues(letters[i].Headers[HeaderDLQTopic], d.opts.Group).Inc()
	}
	return nil
}

// countErrors counts one handler error of kind per topic present in batch.
func (d *Dispatcher) countErrors(batch []Message, kind string) {
	for topic := range countByTopic(batch) {
		handlerErrorsTotal.WithLabelValues(topic, d.opts.Group, kind).Inc()
	}
}

// backoff returns the delay before retry number attempt (1-based): Backoff
// doubled per attempt, capped at MaxBackoff, with "equal jitter" (a random
// value in [d/2, d]) so that consumers failing together do not retry in
// lockstep.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	delay := d.opts.Backoff
	for i := 1; i < attempt && delay < d.opts.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, d.opts.MaxBackoff)
	half := delay / 2
	return half + rand.N(delay-half+1)
}

// sleep waits for delay or until ctx ends, whichever comes first.
func sleep(ctx context.Context, delay time.Duration) error {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
