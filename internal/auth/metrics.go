package auth

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	loginsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_auth_logins_total",
		Help: "Login attempts by result (ok, bad_credentials, throttled, error).",
	}, []string{"result"})
	tokenRejections = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_auth_token_rejections_total",
		Help: "Bearer tokens refused, by reason (expired, bad_signature, malformed, invalid, wrong_claims, revoked, unknown_api_token).",
	}, []string{"reason"})
	auditErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_auth_audit_write_errors_total",
		Help: "Audit log entries that could not be stored.",
	})
)
