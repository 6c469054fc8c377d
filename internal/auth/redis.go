package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts every Redis key and channel kubeward's auth
// uses, so one Redis can serve other applications (or several kubeward
// installations, each with its own prefix).
const DefaultRedisPrefix = "kubeward:auth:"

// RedisThrottle is a Throttle whose counters live in Redis, so that every
// API replica sharing the Redis enforces one limit. It keeps, per key, a
// sorted set of the failure times within the window (at most MaxFailures
// of them), changed only by Lua scripts, so concurrent replicas never lose
// an update. Keys expire one window after their last failure.
//
// Times come from the callers' clocks: replicas' clocks should agree to
// well within the window.
type RedisThrottle struct {
	rdb    redis.UniversalClient
	prefix string
	cfg    ThrottleConfig
}

// NewRedisThrottle returns a throttle keeping its counters under
// prefix+key in rdb. Use a distinct prefix per throttle (per user, per
// address). cfg.MaxKeys is not used: Redis expires idle keys.
func NewRedisThrottle(rdb redis.UniversalClient, prefix string, cfg ThrottleConfig) *RedisThrottle {
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	return &RedisThrottle{rdb: rdb, prefix: prefix, cfg: cfg}
}

// throttleCheck drops failures that left the window (score <= now-window,
// as MemoryThrottle does) and returns the milliseconds until the key may
// try again: 0 when it has fewer than max failures, else until its oldest
// failure leaves the window.
// KEYS[1] key; ARGV now_ms, window_ms, max.
var throttleCheck = redis.NewScript(`
local now, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + window - now
`)

// throttleFail records a failure, keeps only the newest max failures in
// the window and makes the key expire one window from now.
// KEYS[1] key; ARGV now_ms, window_ms, max, unique member.
var throttleFail = redis.NewScript(`
local now, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
redis.call('PEXPIRE', KEYS[1], window)
return n
`)

// Check implements Throttle.
func (t *RedisThrottle) Check(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	ms, err := throttleCheck.Run(ctx, t.rdb, []string{t.prefix + key},
		now.UnixMilli(), t.cfg.Window.Milliseconds(), t.cfg.MaxFailures).Int64()
	if err != nil {
		return 0, fmt.Errorf("auth: redis throttle: check %q: %w", key, err)
	}
	return time.Duration(max(ms, 0)) * time.Millisecond, nil
}

// Fail implements Throttle.
func (t *RedisThrottle) Fail(ctx context.Context, key string, now time.Time) error {
	member, err := randomID(8)
	if err != nil {
		return err
	}
	// The member only has to be unique: two failures in one millisecond
	// are two failures.
	member = strconv.FormatInt(now.UnixMilli(), 10) + "-" + member
	if err := throttleFail.Run(ctx, t.rdb, []string{t.prefix + key},
		now.UnixMilli(), t.cfg.Window.Milliseconds(), t.cfg.MaxFailures, member).Err(); err != nil {
		return fmt.Errorf("auth: redis throttle: record a failure of %q: %w", key, err)
	}
	return nil
}

// Reset implements Throttle.
func (t *RedisThrottle) Reset(ctx context.Context, key string) error {
	if err := t.rdb.Del(ctx, t.prefix+key).Err(); err != nil {
		return fmt.Errorf("auth: redis throttle: reset %q: %w", key, err)
	}
	return nil
}

// RedisRevocations is a RevocationWatcher in Redis: revoked JWT IDs live in
// one sorted set scored by expiry (Unix milliseconds), and every
// revocation is announced on a pub/sub channel in the same MULTI
// transaction, so a replica either sees both or neither.
type RedisRevocations struct {
	rdb     redis.UniversalClient
	set     string
	channel string
	logger  *slog.Logger
}

// NewRedisRevocations keeps revocations under prefix+"revoked" and
// announces them on prefix+"revocations".
func NewRedisRevocations(rdb redis.UniversalClient, prefix string, logger *slog.Logger) *RedisRevocations {
	if logger == nil {
		logger = slog.Default()
	}
	return &RedisRevocations{rdb: rdb, set: prefix + "revoked", channel: prefix + "revocations", logger: logger}
}

// Revoke implements RevocationSource: it adds jti (keeping the later
// expiry when it is there already) and announces the revocation,
// atomically.
func (r *RedisRevocations) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	exp := expiresAt.UnixMilli()
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddGT(ctx, r.set, redis.Z{Score: float64(exp), Member: jti})
		p.Publish(ctx, r.channel, formatRevocation(Revocation{JTI: jti, ExpiresAt: expiresAt}))
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: redis: revoke %s: %w", jti, err)
	}
	return nil
}

// Revocations implements RevocationSource. It also drops the entries
// that expired before now, which keeps the set small.
func (r *RedisRevocations) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	var zs []redis.Z
	err := r.rdb.ZRemRangeByScore(ctx, r.set, "-inf", "("+nowMS).Err()
	if err == nil {
		zs, err = r.rdb.ZRangeByScoreWithScores(ctx, r.set, &redis.ZRangeBy{Min: nowMS, Max: "+inf"}).Result()
	}
	if err != nil {
		return nil, fmt.Errorf("auth: redis: read revoked tokens from %s: %w", r.set, err)
	}
	out := make([]Revocation, 0, len(zs))
	for _, z := range zs {
		jti, ok := z.Member.(string)
		if !ok {
			continue
		}
		out = append(out, Revocation{JTI: jti, ExpiresAt: time.UnixMilli(int64(z.Score)).UTC()})
	}
	return out, nil
}

// Watch implements RevocationWatcher. go-redis re-subscribes by itself
// after a lost connection (Watch retries after 1 s, doubling up to 30 s
// while Redis stays unreachable); each subscription confirmation triggers
// a resync, since announcements made in between are lost.
func (r *RedisRevocations) Watch(ctx context.Context, onRevoke func(Revocation), resync func()) {
	const minBackoff, maxBackoff = time.Second, 30 * time.Second
	sub := r.rdb.Subscribe(ctx, r.channel)
	defer sub.Close()
	backoff := minBackoff
	for {
		msg, err := sub.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.logger.WarnContext(ctx, "redis revocation subscription failed; retrying", "channel", r.channel, "retry_in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				resync()
			}
		case *redis.Message:
			rv, err := parseRevocation(m.Payload)
			if err != nil {
				redisMessagesInvalid.Inc()
				r.logger.WarnContext(ctx, "ignored a malformed revocation announcement", "channel", r.channel, "err", err)
				continue
			}
			onRevoke(rv)
		}
	}
}

// formatRevocation is the announcement format: "<expiry Unix ms> <jti>".
func formatRevocation(r Revocation) string {
	return strconv.FormatInt(r.ExpiresAt.UnixMilli(), 10) + " " + r.JTI
}

// maxJTILen bounds an announced JWT ID (kubeward's are 32 hex digits).
const maxJTILen = 128

// parseRevocation parses a revocation announcement, "<expiry Unix ms>
// <jti>", as RedisRevocations publishes it.
func parseRevocation(s string) (Revocation, error) {
	ms, jti, ok := strings.Cut(s, " ")
	if !ok {
		return Revocation{}, errors.New("revocation announcement: want \"<expiry unix ms> <jti>\"")
	}
	exp, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || exp <= 0 {
		return Revocation{}, fmt.Errorf("revocation announcement: expiry %q is not a positive Unix time in milliseconds", ms)
	}
	if jti == "" || len(jti) > maxJTILen || strings.ContainsFunc(jti, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return Revocation{}, fmt.Errorf("revocation announcement: token ID must be 1-%d printable ASCII characters", maxJTILen)
	}
	return Revocation{JTI: jti, ExpiresAt: time.UnixMilli(exp).UTC()}, nil
}
