// Package kafka implements bus.Bus on Apache Kafka (or any broker speaking
// its protocol) with github.com/twmb/franz-go.
//
// Publishing uses one idempotent producer per Bus (acks=all, small linger)
// and waits for every record to be acknowledged. Topics, including the
// dead-letter topics of consumed topics, are created with the configured
// partitions and replication factor when missing. Each Consume call is one
// member of a Kafka consumer group: partitions are assigned by the group
// protocol, records are handed to the handler in batches that keep
// per-partition order, and offsets are committed only after a batch was
// handled or dead-lettered, so delivery is at-least-once. A group without
// committed offsets starts at the earliest retained record.
//
// TLS and SASL are not configured by this package's Options; pass the
// franz-go options for them (kgo.DialTLSConfig, kgo.SASL) in
// Options.ClientOptions.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kubeward/kubeward/internal/bus"
)

// Defaults of Options.
const (
	DefaultClientID          = "kubeward"
	DefaultPartitions        = 8
	DefaultReplicationFactor = 1
	DefaultLinger            = 5 * time.Millisecond
	DefaultCommitTimeout     = 30 * time.Second
)

// Options configure a Bus.
type Options struct {
	// Brokers are the seed brokers, host:port (required).
	Brokers []string
	// ClientID identifies kubeward in broker logs and quotas (default
	// "kubeward").
	ClientID string
	// Partitions and ReplicationFactor are used for the topics the Bus
	// creates (defaults 8 and 1). Existing topics are left as they are.
	Partitions        int32
	ReplicationFactor int16
	// TopicConfigs are set on the topics the Bus creates, e.g.
	// "retention.ms" or "min.insync.replicas".
	TopicConfigs map[string]string
	// Linger is how long the producer waits to fill a batch (default 5ms).
	Linger time.Duration
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the
	// consumer group protocol; zero keeps the franz-go defaults (45s, 3s
	// and 60s).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	// CommitTimeout bounds an offset commit, which runs even after the
	// consumer's context was cancelled, and the flush of pending publishes
	// in Close (default 30s).
	CommitTimeout time.Duration
	// ClientOptions are appended to the options of every franz-go client the
	// Bus creates: TLS (kgo.DialTLSConfig), SASL (kgo.SASL), dialer, etc.
	ClientOptions []kgo.Opt
	// Logger receives the bus's and franz-go's logs (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.Partitions <= 0 {
		o.Partitions = DefaultPartitions
	}
	if o.ReplicationFactor <= 0 {
		o.ReplicationFactor = DefaultReplicationFactor
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = DefaultCommitTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Bus is the Kafka bus. It implements bus.Bus and bus.Drainer and is safe
// for concurrent use.
type Bus struct {
	opts     Options
	log      *slog.Logger
	producer *kgo.Client
	admin    *kadm.Client

	topicsMu sync.Mutex
	// ensured holds the topics known to exist.
	ensured map[string]bool

	mu     sync.Mutex
	closed bool
	// consumers are the running Consume calls.
	consumers map[*consumer]struct{}
	// declared maps the groups named in DeclareGroup to their topics.
	declared map[string][]string
	running  sync.WaitGroup
}

type consumer struct {
	group  string
	topics []string
	cancel context.CancelFunc
}

// New connects to the brokers and returns a Bus. It fails when no broker
// answers within ctx.
func New(ctx context.Context, opts Options) (*Bus, error) {
	opts = opts.withDefaults()
	if len(opts.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers configured; pass at least one host:port")
	}
	b := &Bus{
		opts:      opts,
		log:       opts.Logger,
		ensured:   make(map[string]bool),
		consumers: make(map[*consumer]struct{}),
		declared:  make(map[string][]string),
	}
	producer, err := kgo.NewClient(b.clientOptions(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(opts.Linger),
		// franz-go's default partitioner sends keyed records to
		// murmur2(key) % partitions like Kafka's Java client, and spreads
		// records without a key. Idempotence is on by default.
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: configure producer for %v: %w", opts.Brokers, err)
	}
	if err := producer.Ping(ctx); err != nil {
		producer.Close()
		return nil, fmt.Errorf("kafka: no broker of %v answered; check the addresses and that Kafka is running: %w", opts.Brokers, err)
	}
	b.producer = producer
	b.admin = kadm.NewClient(producer)
	return b, nil
}

// clientOptions returns the options every client of b shares, then extra,
// then Options.ClientOptions.
func (b *Bus) clientOptions(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(b.opts.Brokers...),
		kgo.ClientID(b.opts.ClientID),
		kgo.WithLogger(slogAdapter{b.log}),
	}
	opts = append(opts, extra...)
	return append(opts, b.opts.ClientOptions...)
}

// EnsureTopics creates the topics that do not exist yet with the Bus's
// partitions, replication factor and topic configs.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	b.topicsMu.Lock()
	defer b.topicsMu.Unlock()
	var missing []string
	for _, t := range topics {
		if !b.ensured[t] && !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var configs map[string]*string
	if len(b.opts.TopicConfigs) > 0 {
		configs = make(map[string]*string, len(b.opts.TopicConfigs))
		for k, v := range b.opts.TopicConfigs {
			configs[k] = kadm.StringPtr(v)
		}
	}
	resps, err := b.admin.CreateTopics(ctx, b.opts.Partitions, b.opts.ReplicationFactor, configs, missing...)
	if err != nil {
		return fmt.Errorf("kafka: create topics %v: %w", missing, err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %q (%d partitions, replication %d): %w %s; create it by hand or grant the CREATE permission",
				r.Topic, b.opts.Partitions, b.opts.ReplicationFactor, r.Err, r.ErrMessage)
		}
		b.ensured[r.Topic] = true
	}
	return nil
}

// Publish produces msgs and returns once the brokers acknowledged all of
// them (acks=all). Topics are created first when missing.
func (b *Bus) Publish(ctx context.Context, msgs ...bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if b.isClosed() {
		return bus.ErrClosed
	}
	topics := make([]string, 0, 1)
	records := make([]*kgo.Record, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Topic == "" {
			return fmt.Errorf("kafka: publish message %d of %d: topic is empty; set Message.Topic", i+1, len(msgs))
		}
		if !slices.Contains(topics, m.Topic) {
			topics = append(topics, m.Topic)
		}
		records[i] = toRecord(m)
	}
	if err := b.EnsureTopics(ctx, topics...); err != nil {
		return err
	}
	results := b.producer.ProduceSync(ctx, records...)
	var ok []bus.Message
	var firstErr error
	failed := 0
	for i, r := range results {
		if r.Err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.Err
			}
			continue
		}
		ok = append(ok, msgs[i])
	}
	bus.ObservePublished(ok...)
	if firstErr != nil {
		if errors.Is(firstErr, kgo.ErrClientClosed) {
			return bus.ErrClosed
		}
		return fmt.Errorf("kafka: %d of %d messages not acknowledged: %w", failed, len(msgs), firstErr)
	}
	return nil
}

func toRecord(m *bus.Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Value: m.Value}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	if len(m.Headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, 0, len(m.Headers))
		for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(m.Headers[k])})
		}
	}
	return r
}

func fromRecord(r *kgo.Record) bus.Message {
	m := bus.Message{
		Topic:     r.Topic,
		Key:       string(r.Key),
		Value:     r.Value,
		Partition: r.Partition,
		Offset:    r.Offset,
		Time:      r.Timestamp,
	}
	if len(r.Headers) > 0 {
		m.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
	}
	return m
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// register records a running consumer for Close and WaitIdle.
func (b *Bus) register(c *consumer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.consumers[c] = struct{}{}
	b.running.Add(1)
	return nil
}

func (b *Bus) unregister(c *consumer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.consumers, c)
	b.running.Done()
}

// Consume joins the consumer group opts.Group and runs h over the
// partitions of opts.Topics assigned to this member until ctx is cancelled
// (it returns nil) or the bus is closed (bus.ErrClosed). The batch in hand
// when ctx is cancelled is finished and committed.
func (b *Bus) Consume(ctx context.Context, opts bus.ConsumeOptions, h bus.Handler) error {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("kafka: consume: %w", err)
	}
	if h == nil {
		return fmt.Errorf("kafka: consume group %q: handler is nil", opts.Group)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &consumer{group: opts.Group, topics: slices.Clone(opts.Topics), cancel: cancel}
	if err := b.register(c); err != nil {
		return err
	}
	defer b.unregister(c)

	ensure := slices.Clone(opts.Topics)
	for _, t := range opts.Topics {
		ensure = append(ensure, bus.DeadLetterTopic(t))
	}
	if err := b.EnsureTopics(ctx, ensure...); err != nil {
		if ctx.Err() != nil {
			return b.stopReason()
		}
		return fmt.Errorf("kafka: consume group %q: %w", opts.Group, err)
	}

	m := &member{bus: b, group: opts.Group, log: b.log.With("group", opts.Group), pending: make(map[topicPartition]*kgo.Record)}
	groupOpts := []kgo.Opt{
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
	}
	if b.opts.SessionTimeout > 0 {
		groupOpts = append(groupOpts, kgo.SessionTimeout(b.opts.SessionTimeout))
	}
	if b.opts.HeartbeatInterval > 0 {
		groupOpts = append(groupOpts, kgo.HeartbeatInterval(b.opts.HeartbeatInterval))
	}
	if b.opts.RebalanceTimeout > 0 {
		groupOpts = append(groupOpts, kgo.RebalanceTimeout(b.opts.RebalanceTimeout))
	}
	cl, err := kgo.NewClient(b.clientOptions(groupOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka: configure consumer of group %q: %w", opts.Group, err)
	}
	defer func() {
		// Leaving the group revokes every partition; onRevoked commits what
		// was handled, never what was only polled.
		cl.CloseAllowingRebalance()
	}()

	d := bus.NewDispatcher(h, opts, b, b.log)
	for {
		fetches := cl.PollRecords(ctx, opts.MaxBatch)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			m.commit(ctx, cl)
			return b.stopReason()
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			bus.ObserveConsumerError(opts.Group, bus.ErrorKindFetch)
			m.log.Warn("kafka: fetch failed; the client retries", "topic", topic, "partition", partition, "error", err)
		})
		records := fetches.Records()
		if len(records) == 0 {
			cl.AllowRebalance()
			continue
		}
		batch := make([]bus.Message, len(records))
		for i, r := range records {
			batch[i] = fromRecord(r)
		}
		if err := d.Dispatch(ctx, batch); err != nil {
			// Cancelled mid-batch: commit only the batches before this one
			// and let the group redeliver this one.
			m.commit(ctx, cl)
			return b.stopReason()
		}
		m.handled(records)
		m.commit(ctx, cl)
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				bus.ObserveConsumerLag(p.Topic, opts.Group, p.Partition, p.HighWatermark-p.Records[n-1].Offset-1)
			}
		})
		cl.AllowRebalance()
	}
}

// stopReason is what Consume returns once its context ended: nil, or
// bus.ErrClosed when Close ended it.
func (b *Bus) stopReason() error {
	if b.isClosed() {
		return bus.ErrClosed
	}
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// member tracks the handled but not yet committed records of one Consume
// call. Its methods run on the poll loop and in group callbacks.
type member struct {
	bus   *Bus
	group string
	log   *slog.Logger

	mu sync.Mutex
	// pending holds, per partition, the last handled record whose offset
	// is not committed yet.
	pending map[topicPartition]*kgo.Record
}

// handled records that records (a dispatched batch) may be committed.
func (m *member) handled(records []*kgo.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range records {
		tp := topicPartition{r.Topic, r.Partition}
		if prev := m.pending[tp]; prev == nil || prev.Offset < r.Offset {
			m.pending[tp] = r
		}
	}
}

// commit commits the pending offsets. It runs even when ctx is cancelled
// (bounded by Options.CommitTimeout): handled work must not be redone. A
// failed commit is retried with the next batch or on revocation.
func (m *member) commit(ctx context.Context, cl *kgo.Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return
	}
	records := slices.Collect(maps.Values(m.pending))
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.bus.opts.CommitTimeout)
	defer cancel()
	if err := cl.CommitRecords(cctx, records...); err != nil {
		bus.ObserveConsumerError(m.group, bus.ErrorKindCommit)
		m.log.Warn("kafka: offset commit failed; handled messages may be redelivered", "partitions", len(records), "error", err)
		return
	}
	clear(m.pending)
}

// onRevoked commits what was handled before the partitions go to another
// member.
func (m *member) onRevoked(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
	m.commit(ctx, cl)
}

// onLost forgets pending offsets of partitions this member no longer owns;
// committing them now could rewind the new owner.
func (m *member) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for topic, partitions := range lost {
		for _, p := range partitions {
			delete(m.pending, topicPartition{topic, p})
		}
	}
}

// DeclareGroup implements bus.GroupDeclarer: WaitIdle waits for group to
// commit what is published to topics even before a consumer of the group
// joined through this Bus. Kafka retains messages by time, so nothing else
// changes.
func (b *Bus) DeclareGroup(group string, topics ...string) error {
	if group == "" || len(topics) == 0 {
		return fmt.Errorf("kafka: declare group %q for topics %v: a group name and at least one topic are required", group, topics)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	for _, t := range topics {
		if !slices.Contains(b.declared[group], t) {
			b.declared[group] = append(b.declared[group], t)
		}
	}
	return nil
}

// WaitIdle implements bus.Drainer for the groups consuming through this
// Bus or declared on it (members in other processes are not seen, but
// their commits count). It polls the group offsets with a backoff from 5ms
// to 250ms.
func (b *Bus) WaitIdle(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	groups := make(map[string][]string, len(b.declared))
	for g, topics := range b.declared {
		groups[g] = slices.Clone(topics)
	}
	for c := range b.consumers {
		for _, t := range c.topics {
			if !slices.Contains(groups[c.group], t) {
				groups[c.group] = append(groups[c.group], t)
			}
		}
	}
	b.mu.Unlock()
	if len(groups) == 0 {
		return nil
	}
	var topics []string
	for _, ts := range groups {
		for _, t := range ts {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	ends, err := b.admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("kafka: wait idle: list end offsets of %v: %w", topics, err)
	}
	var listErr error
	ends.Each(func(o kadm.ListedOffset) {
		// A topic that does not exist yet has nothing to wait for.
		if o.Err != nil && !errors.Is(o.Err, kerr.UnknownTopicOrPartition) && listErr == nil {
			listErr = fmt.Errorf("kafka: wait idle: end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		}
	})
	if listErr != nil {
		return listErr
	}
	delay := 5 * time.Millisecond
	for {
		idle, err := b.caughtUp(ctx, groups, ends)
		if err != nil {
			return err
		}
		if idle {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// caughtUp reports whether every group committed the end offsets for its
// topics.
func (b *Bus) caughtUp(ctx context.Context, groups map[string][]string, ends kadm.ListedOffsets) (bool, error) {
	for group, topics := range groups {
		committed, err := b.admin.FetchOffsets(ctx, group)
		if err == nil {
			err = committed.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			// The group has not joined yet: nothing is committed.
			committed, err = nil, nil
		}
		if err != nil {
			return false, fmt.Errorf("kafka: wait idle: fetch offsets of group %q: %w", group, err)
		}
		for _, t := range topics {
			for p, end := range ends[t] {
				if end.Err != nil || end.Offset <= 0 {
					continue
				}
				c, ok := committed.Lookup(t, p)
				if !ok || c.At < end.Offset {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// Close stops every consumer (each commits what it handled and leaves its
// group), flushes pending publishes and closes the producer. Close must not
// be called from a Handler.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for c := range b.consumers {
		c.cancel()
	}
	b.mu.Unlock()
	b.running.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), b.opts.CommitTimeout)
	defer cancel()
	err := b.producer.Flush(ctx)
	b.producer.Close()
	if err != nil {
		return fmt.Errorf("kafka: flush pending messages on close: %w", err)
	}
	return nil
}

// URLScheme prefixes a Kafka bus URL.
const URLScheme = "kafka://"

// ParseURL parses the --bus flag form "kafka://host:port[,host:port...]"
// into broker addresses. A broker without a port gets Kafka's 9092; IPv6
// hosts are written in brackets ("[::1]:9092").
func ParseURL(raw string) ([]string, error) {
	const want = "want kafka://host:port[,host:port]"
	rest, ok := strings.CutPrefix(raw, URLScheme)
	if !ok {
		return nil, fmt.Errorf("kafka: bus URL %q does not start with %q; %s", raw, URLScheme, want)
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return nil, fmt.Errorf("kafka: bus URL %q names no broker; %s", raw, want)
	}
	if strings.ContainsAny(rest, "/?#@ \t") {
		return nil, fmt.Errorf("kafka: bus URL %q may only list brokers (no user, path or query); %s", raw, want)
	}
	var brokers []string
	for _, hp := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(hp)
		if addrErr := (*net.AddrError)(nil); errors.As(err, &addrErr) && addrErr.Err == "missing port in address" {
			host, port = hp, "9092"
			if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
				host = hp[1 : len(hp)-1]
			}
		} else if err != nil {
			return nil, fmt.Errorf("kafka: bus URL %q: broker %q: %w; %s", raw, hp, err, want)
		}
		if host == "" || strings.ContainsAny(host, "[]") {
			return nil, fmt.Errorf("kafka: bus URL %q: broker %q has no valid host; %s", raw, hp, want)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("kafka: bus URL %q: broker %q has invalid port %q (want 1-65535)", raw, hp, port)
		}
		brokers = append(brokers, net.JoinHostPort(host, strconv.Itoa(n)))
	}
	return brokers, nil
}

var (
	_ bus.Bus           = (*Bus)(nil)
	_ bus.Drainer       = (*Bus)(nil)
	_ bus.GroupDeclarer = (*Bus)(nil)
)
