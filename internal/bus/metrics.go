package bus

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Kinds of consumer errors counted by kubeward_bus_handler_errors_total and
// kubeward_bus_consumer_errors_total.
const (
	// ErrorKindTransient: the handler returned an error that is retried.
	ErrorKindTransient = "transient"
	// ErrorKindPermanent: the handler returned an error marked Permanent.
	ErrorKindPermanent = "permanent"
	// ErrorKindReject: the handler rejected messages with a *RejectError.
	ErrorKindReject = "reject"
	// ErrorKindPanic: the handler panicked.
	ErrorKindPanic = "panic"
	// ErrorKindInvalidReject: a *RejectError named a message outside the batch.
	ErrorKindInvalidReject = "invalid_reject"
	// ErrorKindDeadLetter: publishing to a dead-letter topic failed (retried).
	ErrorKindDeadLetter = "dead_letter_publish"
	// ErrorKindFetch: reading from the bus failed (retried by the transport).
	ErrorKindFetch = "fetch"
	// ErrorKindCommit: committing offsets failed (retried on the next batch).
	ErrorKindCommit = "commit"
)

var (
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_bus_messages_published_total",
		Help: "Messages acknowledged by the bus, by topic.",
	}, []string{"topic"})
	handledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_bus_messages_handled_total",
		Help: "Messages a handler finished successfully, by topic and consumer group.",
	}, []string{"topic", "group"})
	handlerErrorsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_bus_handler_errors_total",
		Help: "Handler calls that did not succeed, by topic, consumer group and kind (transient, permanent, reject, panic, invalid_reject).",
	}, []string{"topic", "group", "kind"})
	deadLettersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_bus_dead_letters_total",
		Help: "Messages moved to a dead-letter topic, by source topic and consumer group.",
	}, []string{"topic", "group"})
	handleSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_bus_handle_duration_seconds",
		Help:    "Duration of one handler call, by consumer group.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"group"})
	consumerErrorsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_bus_consumer_errors_total",
		Help: "Consumer failures outside the handler, by consumer group and kind (fetch, commit, dead_letter_publish).",
	}, []string{"group", "kind"})
	consumerLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubeward_bus_consumer_lag_messages",
		Help: "Messages published to a partition but not yet committed by a consumer group, as last seen by the consumer owning the partition.",
	}, []string{"topic", "group", "partition"})
)

// ObservePublished counts msgs as published. Implementations call it once
// the bus acknowledged them.
func ObservePublished(msgs ...Message) {
	for topic, n := range countByTopic(msgs) {
		publishedTotal.WithLabelValues(topic).Add(float64(n))
	}
}

// ObserveConsumerError counts a consumer failure outside the handler; kind is
// one of the ErrorKind constants.
func ObserveConsumerError(group, kind string) {
	consumerErrorsTotal.WithLabelValues(group, kind).Inc()
}

// ObserveConsumerLag records how many messages of a partition group has not
// committed yet.
func ObserveConsumerLag(topic, group string, partition int32, lag int64) {
	consumerLag.WithLabelValues(topic, group, strconv.Itoa(int(partition))).Set(float64(lag))
}

// countByTopic returns how many of msgs belong to each topic.
func countByTopic(msgs []Message) map[string]int {
	counts := make(map[string]int, 1)
	for i := range msgs {
		counts[msgs[i].Topic]++
	}
	return counts
}
