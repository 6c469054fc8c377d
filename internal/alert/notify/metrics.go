package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metric label values of notificationsTotal's result.
const (
	resultSuccess = "success"
	resultFailure = "failure"
)

var (
	notificationsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_alert_notifications_total",
		Help: "Notifications by integration (<receiver>/<kind>/<index>) and final result (success, or failure once retries gave up).",
	}, []string{"receiver", "result"})
	notificationsFailed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_alert_notifications_failed_total",
		Help: "Failed delivery attempts by integration, each retry counted.",
	}, []string{"receiver"})
	notificationDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_alert_notification_duration_seconds",
		Help:    "Duration of one delivery attempt by integration.",
		Buckets: prometheus.DefBuckets,
	}, []string{"receiver"})
	mutedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_alert_muted_alerts_total",
		Help: "Alerts left out of a notification, by reason (inhibited, silenced).",
	}, []string{"reason"})
)
