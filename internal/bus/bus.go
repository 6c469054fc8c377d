// Package bus defines kubeward's event bus: keyed messages published to
// topics and consumed in named groups with at-least-once delivery.
//
// Two implementations satisfy the same contract (see package bustest):
// package inproc for the embedded single-process mode and package kafka for
// fleets. Delivery guarantees every implementation must give:
//
//   - Messages with the same key on the same topic are delivered to a group
//     in the order they were published.
//   - An offset is committed only after the handler returned for the batch
//     containing it, so a consumer that restarts resumes after the last
//     handled message and never skips one (at-least-once).
//   - A batch whose handler returns a transient error is redelivered after a
//     backoff; a message the handler rejects (see Reject) or that keeps
//     failing after MaxAttempts goes to the dead-letter topic with the reason
//     in its headers, and the stream goes on.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Header names set on dead-lettered messages.
const (
	HeaderDLQReason    = "kubeward-dlq-reason"
	HeaderDLQTopic     = "kubeward-dlq-topic"
	HeaderDLQPartition = "kubeward-dlq-partition"
	HeaderDLQOffset    = "kubeward-dlq-offset"
	HeaderDLQGroup     = "kubeward-dlq-group"
	HeaderDLQTime      = "kubeward-dlq-time"
)

// DeadLetterSuffix is appended to a topic name to form its dead-letter topic.
const DeadLetterSuffix = ".dlq"

// Message is one keyed record on a topic. Partition, Offset and Time are set
// by the bus on delivery and ignored on publish.
type Message struct {
	Topic     string
	Key       string
	Value     []byte
	Headers   map[string]string
	Partition int32
	Offset    int64
	Time      time.Time
}

// Publisher writes messages to topics.
type Publisher interface {
	// Publish writes msgs and returns once the bus has acknowledged all of
	// them. Messages with the same topic and key keep their relative order.
	Publish(ctx context.Context, msgs ...Message) error
}

// Handler processes a batch of messages. Within a batch, messages of the same
// topic partition (and so of the same key) appear in offset order.
//
// Returning nil means every message was handled. Returning a *RejectError
// means the listed messages can never be handled (they are dead-lettered)
// and all the others were handled. Any other error is treated as transient
// and the whole batch is redelivered after a backoff; an error wrapped with
// Permanent is not retried: the batch is split so that only the messages
// that fail on their own are dead-lettered.
type Handler func(ctx context.Context, batch []Message) error

// ConsumeOptions configure a consumer.
type ConsumeOptions struct {
	// Group names the consumer group; offsets are committed per group.
	Group string
	// Topics to consume.
	Topics []string
	// MaxBatch bounds the number of messages handed to one Handler call
	// (default 500).
	MaxBatch int
	// MaxAttempts bounds how often a failing message is retried before it is
	// dead-lettered (default 8). Zero means the default; negative retries
	// forever.
	MaxAttempts int
	// Backoff is the first retry delay, doubled per attempt up to MaxBackoff
	// (defaults 100ms and 10s).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// WithDefaults returns o with zero fields replaced by their defaults.
func (o ConsumeOptions) WithDefaults() ConsumeOptions {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 500
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	return o
}

// Validate reports whether the options can be used.
func (o ConsumeOptions) Validate() error {
	if o.Group == "" {
		return errors.New("bus: consumer group name is required")
	}
	if len(o.Topics) == 0 {
		return errors.New("bus: at least one topic is required")
	}
	return nil
}

// Bus publishes and consumes messages.
type Bus interface {
	Publisher
	// Consume runs h over the group's share of the topics until ctx is
	// cancelled or an unrecoverable error occurs. On cancellation it
	// finishes the batch in hand, commits what was handled and returns nil;
	// when the bus is closed under it, it returns ErrClosed.
	Consume(ctx context.Context, opts ConsumeOptions, h Handler) error
	// Close releases the bus; pending publishes are flushed first.
	Close() error
}

// Rejected names one message of a batch that can never be handled.
type Rejected struct {
	// Index is the message's position in the batch.
	Index int
	// Err says why; it becomes the dead-letter reason.
	Err error
}

// RejectError is returned by a Handler that handled a batch except for the
// listed messages, which must be dead-lettered.
type RejectError struct {
	Rejected []Rejected
}

// Error implements error.
func (e *RejectError) Error() string {
	if len(e.Rejected) == 1 {
		return fmt.Sprintf("bus: 1 message rejected: %v", e.Rejected[0].Err)
	}
	return fmt.Sprintf("bus: %d messages rejected (first: %v)", len(e.Rejected), e.Rejected[0].Err)
}

// Reject builds a *RejectError, or returns nil when rs is empty.
func Reject(rs ...Rejected) error {
	if len(rs) == 0 {
		return nil
	}
	return &RejectError{Rejected: rs}
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// ErrClosed is returned by Publish, Consume and WaitIdle once the bus has
// been closed.
var ErrClosed = errors.New("bus: closed")

// Drainer is implemented by buses that can tell when their consumers have
// caught up. It is used for graceful shutdown and by tests and benchmarks
// that must know ingestion finished.
type Drainer interface {
	// WaitIdle returns nil once every consumer group that is consuming
	// through this bus when it is called (or that starts while it waits)
	// has handled and committed every message published to its topics
	// before the call. It returns ctx.Err() if ctx ends first and ErrClosed
	// if the bus is closed. Messages that handlers publish in turn are not
	// covered: call WaitIdle again to drain a pipeline of several stages.
	WaitIdle(ctx context.Context) error
}

// GroupDeclarer is implemented by buses that can be told which consumer
// groups a process runs before their consumers start (Consume is usually
// started in goroutines, so it may join late). A declared group counts as
// consuming its topics from then on: WaitIdle (see Drainer) waits for it
// even before its first consumer joined, and a bus that keeps messages only
// for the groups it knows of (the in-process bus) keeps them for it.
// Declare the groups, then start consumers and producers.
type GroupDeclarer interface {
	// DeclareGroup records that group consumes topics.
	DeclareGroup(group string, topics ...string) error
}

// DeadLetterTopic returns the dead-letter topic of topic.
func DeadLetterTopic(topic string) string { return topic + DeadLetterSuffix }
