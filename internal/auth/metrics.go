package auth

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	loginsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_auth_logins_total",
		Help: "Login attempts, local and external (OIDC), by result (ok, bad_credentials, throttled, bad_state, no_role, error).",
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

var (
	revocationSyncErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_auth_revocation_sync_errors_total",
		Help: "Failed reads of a revocation source (store or Redis) while refreshing the in-memory deny-list.",
	})
	revokedCached = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "kubeward_auth_revoked_tokens_cached",
		Help: "Unexpired revoked token IDs held in memory by the last deny-list refresh.",
	})
	redisMessagesInvalid = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_auth_redis_invalid_messages_total",
		Help: "Revocation announcements from Redis that could not be parsed and were ignored.",
	})
)

var rehashes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_auth_password_rehashes_total",
	Help: "Password hashes replaced at login because the argon2id parameters changed, by result (ok, error).",
}, []string{"result"})
