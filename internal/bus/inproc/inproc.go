// Package inproc is the embedded, in-process implementation of bus.Bus used
// by `kubeward serve` when no external broker is configured.
//
// Topics are split into partitions by a hash of the message key and kept as
// in-memory logs. Consumer groups commit offsets per partition; the offsets
// live as long as the Bus, so a consumer that stops and starts again in the
// same group resumes after its last committed message. Several consumers of
// one group share the partitions of their topics and are rebalanced when one
// joins or leaves.
//
// Memory stays bounded: a partition's prefix is dropped once every group that
// ever subscribed to the topic committed it, and Publish blocks while a
// topic with subscribers holds Options.MaxBacklog uncommitted messages, or a
// topic nobody subscribed to yet holds Options.MaxRetained messages (it
// waits for a consumer rather than dropping messages). Unlike
// Kafka, which keeps messages for a retention period, a group that
// subscribes to a topic for the first time only sees the messages still
// retained, those not committed by every group that subscribed before it.
// Declare the groups with DeclareGroup before starting the producers so that
// none misses a message. Nothing survives the process: use package kafka for
// durability.
package inproc

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/kubeward/kubeward/internal/bus"
)

// Defaults of Options.
const (
	DefaultPartitions  = 8
	DefaultMaxBacklog  = 2000
	DefaultMaxRetained = 100000
)

var blockedPublishers = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "kubeward_bus_blocked_publishers",
	Help: "Publish calls of the in-process bus waiting because a topic is full (back-pressure).",
})

// Options configure a Bus.
type Options struct {
	// Partitions per topic (default 8). More partitions let more consumers
	// of one group work in parallel.
	Partitions int
	// MaxBacklog bounds the messages of a topic that some subscribed group
	// has not committed yet; Publish blocks while it is reached (default
	// 10000).
	MaxBacklog int
	// MaxRetained bounds the messages kept for a topic that no group has
	// subscribed to yet; beyond it Publish blocks until a group subscribes
	// (default 100000, negative means unbounded). It lets producers run
	// ahead of consumers that are still starting.
	MaxRetained int
	// Logger receives the bus's logs (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Partitions <= 0 {
		o.Partitions = DefaultPartitions
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = DefaultMaxBacklog
	}
	if o.MaxRetained == 0 {
		o.MaxRetained = DefaultMaxRetained
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Bus is the in-process bus. It implements bus.Bus and bus.Drainer and is
// safe for concurrent use.
//
// Handlers must treat the Value and Headers of the messages they receive as
// read-only: every group is handed the same copy.
type Bus struct {
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	// changed is closed and replaced whenever state a waiter may be waiting
	// for changes: messages appended, offsets committed, members joined or
	// left, the bus closed.
	changed    chan struct{}
	closed     bool
	topics     map[string]*topic
	groups     map[string]*group
	nextMember uint64
	// blockedPublishers counts Publish calls waiting for back-pressure.
	blockedPublishers int
	consumers         sync.WaitGroup
}

type topic struct {
	name  string
	parts []*partition
	// subscribers are the groups that ever consumed the topic; their
	// committed offsets decide what can be trimmed.
	subscribers map[string]*group
	// retained counts the messages held in all partitions.
	retained int
	// roundRobin spreads messages without a key over the partitions.
	roundRobin int
}

type partition struct {
	// base is the offset of log[0].
	base int64
	log  []bus.Message
}

// dropFront removes the first n messages.
func (p *partition) dropFront(n int) {
	clear(p.log[:n]) // let the values be collected before the array is reallocated
	p.log = p.log[n:]
	p.base += int64(n)
}

func (p *partition) end() int64 { return p.base + int64(len(p.log)) }

type topicPartition struct {
	topic     string
	partition int
}

type group struct {
	name string
	// committed holds, per topic, the next offset to deliver per partition.
	committed map[string][]int64
	members   map[uint64]*member
	// declared lists the topics named in DeclareGroup; WaitIdle waits for
	// them even while the group has no member.
	declared []string
	// busy marks partitions with a batch in the hands of a member; nobody
	// else may take from them until it is committed or released.
	busy map[topicPartition]bool
}

type member struct {
	id     uint64
	topics []string
	cancel context.CancelFunc
	// assigned partitions, set by rebalance; next rotates the starting
	// point of take for fairness.
	assigned []topicPartition
	next     int
}

// claim is a range of one partition handed to a member in a batch.
type claim struct {
	tp  topicPartition
	end int64
}

// New returns an empty Bus.
func New(opts Options) *Bus {
	opts = opts.withDefaults()
	return &Bus{
		opts:    opts,
		log:     opts.Logger,
		changed: make(chan struct{}),
		topics:  make(map[string]*topic),
		groups:  make(map[string]*group),
	}
}

// broadcastLocked wakes every waiter. b.mu must be held.
func (b *Bus) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// waitLocked releases b.mu until the state changes, ctx ends or the bus is
// closed, and takes b.mu again.
func (b *Bus) waitLocked(ctx context.Context) error {
	ch := b.changed
	b.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	if b.closed {
		err = bus.ErrClosed
	}
	return err
}

// topicLocked returns the topic named name, creating it. b.mu must be held.
func (b *Bus) topicLocked(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{name: name, parts: make([]*partition, b.opts.Partitions), subscribers: make(map[string]*group)}
		for i := range t.parts {
			t.parts[i] = &partition{}
		}
		b.topics[name] = t
	}
	return t
}

// partitionFor picks the partition of a message: a hash of its key, or
// round robin when it has none.
func (t *topic) partitionFor(key string) int {
	if key == "" {
		t.roundRobin = (t.roundRobin + 1) % len(t.parts)
		return t.roundRobin
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(len(t.parts)))
}

// full reports whether Publish must wait before adding to t.
func (b *Bus) full(t *topic) bool {
	if len(t.subscribers) > 0 {
		return t.retained >= b.opts.MaxBacklog
	}
	return b.opts.MaxRetained > 0 && t.retained >= b.opts.MaxRetained
}

// Publish appends msgs to their topics. It copies each message's value and
// headers, so the caller may reuse them. It blocks while a topic holds
// Options.MaxBacklog uncommitted messages (Options.MaxRetained while no
// group has subscribed to it); if ctx ends while blocked, the
// messages before the blocked one are published and the error says how
// many. A Handler that publishes to a topic its own group consumes can
// therefore block itself once that topic is full.
func (b *Bus) Publish(ctx context.Context, msgs ...bus.Message) error {
	for i := range msgs {
		if msgs[i].Topic == "" {
			return fmt.Errorf("inproc: publish message %d of %d: topic is empty; set Message.Topic", i+1, len(msgs))
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inproc: publish %d messages: %w", len(msgs), err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	now := time.Now()
	for i := range msgs {
		t := b.topicLocked(msgs[i].Topic)
		for b.full(t) {
			b.blockedPublishers++
			blockedPublishers.Inc()
			b.broadcastLocked() // wake consumers for what this call appended so far
			err := b.waitLocked(ctx)
			b.blockedPublishers--
			blockedPublishers.Dec()
			if err != nil {
				bus.ObservePublished(msgs[:i]...)
				return fmt.Errorf("inproc: published %d of %d messages, topic %q is full (%d uncommitted): %w",
					i, len(msgs), t.name, t.retained, err)
			}
		}
		m := msgs[i]
		m.Value = bytes.Clone(m.Value)
		m.Headers = maps.Clone(m.Headers)
		m.Time = now
		p := t.partitionFor(m.Key)
		part := t.parts[p]
		m.Partition = int32(p)
		m.Offset = part.end()
		part.log = append(part.log, m)
		t.retained++
	}
	b.broadcastLocked()
	bus.ObservePublished(msgs...)
	return nil
}

// Consume runs h over the group's share of opts.Topics until ctx is
// cancelled (it returns nil) or the bus is closed (bus.ErrClosed). The
// batch in hand when ctx is cancelled is finished and committed.
func (b *Bus) Consume(ctx context.Context, opts bus.ConsumeOptions, h bus.Handler) error {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("inproc: consume: %w", err)
	}
	if h == nil {
		return fmt.Errorf("inproc: consume group %q: handler is nil", opts.Group)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m, g, err := b.join(opts, cancel)
	if err != nil {
		return err
	}
	defer b.leave(g, m)
	d := bus.NewDispatcher(h, opts, b, b.log)
	for {
		batch, claims, err := b.take(ctx, g, m, opts.MaxBatch)
		if err != nil {
			if err == bus.ErrClosed {
				return err
			}
			return nil
		}
		if err := d.Dispatch(ctx, batch); err != nil {
			b.settle(g, claims, false)
			if b.isClosed() {
				return bus.ErrClosed
			}
			return nil
		}
		b.settle(g, claims, true)
	}
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// join adds a member to the group and rebalances it.
func (b *Bus) join(opts bus.ConsumeOptions, cancel context.CancelFunc) (*member, *group, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, bus.ErrClosed
	}
	g, topics := b.subscribeLocked(opts.Group, opts.Topics)
	b.nextMember++
	m := &member{id: b.nextMember, topics: topics, cancel: cancel}
	g.members[m.id] = m
	b.consumers.Add(1)
	b.rebalanceLocked(g)
	b.broadcastLocked()
	return m, g, nil
}

// DeclareGroup implements bus.GroupDeclarer: from now on the bus retains
// every message of topics until group has committed it, as if a consumer
// of the group had joined, and WaitIdle waits for group to commit them.
// Use it when wiring a process so that messages published before the
// consumers start are neither trimmed away by faster groups nor missed by
// WaitIdle.
func (b *Bus) DeclareGroup(group string, topics ...string) error {
	if group == "" || len(topics) == 0 {
		return fmt.Errorf("inproc: declare group %q for topics %v: a group name and at least one topic are required", group, topics)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	g, topics := b.subscribeLocked(group, topics)
	for _, t := range topics {
		if !slices.Contains(g.declared, t) {
			g.declared = append(g.declared, t)
		}
	}
	b.broadcastLocked()
	return nil
}

// subscribeLocked returns the group named name, creating it, subscribed to
// topics (returned sorted and deduplicated). A group subscribing to a
// topic for the first time starts at the oldest retained message.
func (b *Bus) subscribeLocked(name string, topics []string) (*group, []string) {
	g := b.groups[name]
	if g == nil {
		g = &group{
			name:      name,
			committed: make(map[string][]int64),
			members:   make(map[uint64]*member),
			busy:      make(map[topicPartition]bool),
		}
		b.groups[name] = g
	}
	topics = slices.Clone(topics)
	slices.Sort(topics)
	topics = slices.Compact(topics)
	for _, topicName := range topics {
		t := b.topicLocked(topicName)
		t.subscribers[g.name] = g
		if g.committed[topicName] == nil {
			offsets := make([]int64, len(t.parts))
			for i, p := range t.parts {
				offsets[i] = p.base
			}
			g.committed[topicName] = offsets
		}
	}
	return g, topics
}

// leave removes a member from its group and rebalances it.
func (b *Bus) leave(g *group, m *member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(g.members, m.id)
	b.rebalanceLocked(g)
	b.broadcastLocked()
	b.consumers.Done()
}

// rebalanceLocked spreads the partitions of every topic the group consumes
// over the members consuming it: partition i goes to member i mod n in the
// order members joined. A partition whose batch is still in the hands of
// its previous owner is taken by the new one only after that batch is
// committed or released (see group.busy).
func (b *Bus) rebalanceLocked(g *group) {
	ids := slices.Sorted(maps.Keys(g.members))
	for _, id := range ids {
		g.members[id].assigned = g.members[id].assigned[:0]
	}
	byTopic := make(map[string][]*member)
	for _, id := range ids {
		m := g.members[id]
		for _, name := range m.topics {
			byTopic[name] = append(byTopic[name], m)
		}
	}
	for name, ms := range byTopic {
		for p := range b.topics[name].parts {
			m := ms[p%len(ms)]
			m.assigned = append(m.assigned, topicPartition{topic: name, partition: p})
		}
	}
}

// take blocks until some of m's partitions hold messages beyond the group's
// committed offset, marks those partitions busy and returns up to limit
// messages from them, in offset order per partition.
func (b *Bus) take(ctx context.Context, g *group, m *member, limit int) ([]bus.Message, []claim, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return nil, nil, bus.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		var batch []bus.Message
		var claims []claim
		n := len(m.assigned)
		for i := 0; i < n && len(batch) < limit; i++ {
			tp := m.assigned[(m.next+i)%n]
			if g.busy[tp] {
				continue
			}
			p := b.topics[tp.topic].parts[tp.partition]
			from := max(g.committed[tp.topic][tp.partition], p.base)
			to := min(p.end(), from+int64(limit-len(batch)))
			if to <= from {
				continue
			}
			batch = append(batch, p.log[from-p.base:to-p.base]...)
			claims = append(claims, claim{tp: tp, end: to})
			g.busy[tp] = true
		}
		if len(batch) > 0 {
			if n > 0 {
				m.next = (m.next + 1) % n
			}
			return batch, claims, nil
		}
		if err := b.waitLocked(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// settle ends a batch: its partitions are no longer busy and, when commit
// is true, the group's offsets move past it and fully committed prefixes
// are trimmed.
func (b *Bus) settle(g *group, claims []claim, commit bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range claims {
		delete(g.busy, c.tp)
		if !commit {
			continue
		}
		offsets := g.committed[c.tp.topic]
		if c.end > offsets[c.tp.partition] {
			offsets[c.tp.partition] = c.end
		}
		t := b.topics[c.tp.topic]
		p := t.parts[c.tp.partition]
		bus.ObserveConsumerLag(t.name, g.name, int32(c.tp.partition), p.end()-offsets[c.tp.partition])
		b.trimLocked(t, c.tp.partition)
	}
	b.broadcastLocked()
}

// trimLocked drops the prefix of a partition that every subscribed group
// has committed.
func (b *Bus) trimLocked(t *topic, partition int) {
	p := t.parts[partition]
	low := p.end()
	for _, g := range t.subscribers {
		low = min(low, g.committed[t.name][partition])
	}
	if n := int(low - p.base); n > 0 {
		p.dropFront(n)
		t.retained -= n
	}
}

// WaitIdle implements bus.Drainer.
func (b *Bus) WaitIdle(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	ends := make(map[string][]int64, len(b.topics))
	for name, t := range b.topics {
		offsets := make([]int64, len(t.parts))
		for i, p := range t.parts {
			offsets[i] = p.end()
		}
		ends[name] = offsets
	}
	for !b.caughtUpLocked(ends) {
		if err := b.waitLocked(ctx); err != nil {
			return err
		}
	}
	return nil
}

// caughtUpLocked reports whether every group with members has committed
// the offsets in ends for the topics its members consume, and every
// declared group for the topics it was declared with.
func (b *Bus) caughtUpLocked(ends map[string][]int64) bool {
	committed := func(g *group, topics []string) bool {
		for _, name := range topics {
			for p, end := range ends[name] {
				if g.committed[name][p] < end {
					return false
				}
			}
		}
		return true
	}
	for _, g := range b.groups {
		if !committed(g, g.declared) {
			return false
		}
		for _, m := range g.members {
			if !committed(g, m.topics) {
				return false
			}
		}
	}
	return true
}

// Close stops every consumer, waits for them to finish the batch in hand,
// and makes further calls fail with bus.ErrClosed. Publish acknowledges
// synchronously, so nothing is left to flush. Close must not be called from
// a Handler.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, g := range b.groups {
		for _, m := range g.members {
			m.cancel()
		}
	}
	b.broadcastLocked()
	b.mu.Unlock()
	b.consumers.Wait()
	return nil
}

var (
	_ bus.Bus           = (*Bus)(nil)
	_ bus.Drainer       = (*Bus)(nil)
	_ bus.GroupDeclarer = (*Bus)(nil)
)
