package alert

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by storage when the requested object does not
// exist. Implementations return it (or an error wrapping it) so that
// errors.Is(err, ErrNotFound) holds.
var ErrNotFound = errors.New("alert: not found")

// Storage is everything the alert pipeline persists. An implementation
// must be safe for concurrent use. Package memstore implements it in
// memory; store backends implement it on SQL and prove it with
// alerttest.RunStorageContract.
//
// Every method stores and returns copies: a caller may modify what it
// passed in or got back without affecting the stored data. Times are
// compared as instants (time.Time.Equal), so a backend may store them in
// UTC with at least millisecond precision; the contract test uses
// whole-millisecond UTC times.
type Storage interface {
	AlertStore
	SilenceStore
	NotificationLog
}

// AlertStore keeps the latest version of every alert, keyed by
// fingerprint. The pipeline merges a received alert with the stored one
// (see Merge) before writing, so the store itself only replaces.
type AlertStore interface {
	// PutAlerts writes alerts in one transaction: each replaces the stored
	// alert with the same fingerprint (Labels.Fingerprint()) or is inserted.
	// Within alerts, a later element with the same fingerprint wins.
	PutAlerts(ctx context.Context, alerts []Alert) error
	// GetAlert returns the alert with fingerprint fp, or ErrNotFound.
	GetAlert(ctx context.Context, fp Fingerprint) (Alert, error)
	// ListAlerts returns every stored alert, ordered by fingerprint
	// (ascending as an unsigned integer, which is also the order of their
	// 16-hex-digit strings).
	ListAlerts(ctx context.Context) ([]Alert, error)
	// DeleteAlertsResolvedBefore deletes the alerts whose EndsAt is set
	// (non-zero) and strictly before t, and returns how many it deleted.
	// Firing alerts (zero EndsAt) are never deleted.
	DeleteAlertsResolvedBefore(ctx context.Context, t time.Time) (int, error)
}

// Silence mutes the alerts its matchers select between StartsAt and
// EndsAt.
type Silence struct {
	// ID is assigned by the silence service (26 random base32 characters);
	// stores use it as the primary key.
	ID string `json:"id"`
	// Matchers must all match an alert's labels for it to be silenced.
	Matchers []Matcher `json:"matchers"`
	// StartsAt and EndsAt bound when the silence is active: StartsAt <= now
	// < EndsAt.
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt"`
	// CreatedBy names who created the silence; Comment says why.
	CreatedBy string `json:"createdBy"`
	Comment   string `json:"comment"`
	// UpdatedAt is when the silence was last written (created or expired).
	UpdatedAt time.Time `json:"updatedAt"`
}

// Active reports whether s mutes alerts at now.
func (s *Silence) Active(now time.Time) bool {
	return !now.Before(s.StartsAt) && now.Before(s.EndsAt)
}

// SilenceStore keeps silences, keyed by ID.
type SilenceStore interface {
	// PutSilence inserts s or replaces the silence with the same ID.
	PutSilence(ctx context.Context, s Silence) error
	// GetSilence returns the silence with the ID, or ErrNotFound.
	GetSilence(ctx context.Context, id string) (Silence, error)
	// ListSilences returns every stored silence ordered by StartsAt, then
	// ID.
	ListSilences(ctx context.Context) ([]Silence, error)
	// DeleteSilencesEndedBefore deletes the silences whose EndsAt is
	// strictly before t and returns how many it deleted.
	DeleteSilencesEndedBefore(ctx context.Context, t time.Time) (int, error)
}

// NotificationEntry records the last notification one integration (one
// receiver configuration) sent for one aggregation group. The pipeline
// reads it before sending, to deduplicate, and writes it after a
// successful send; it is what makes a restart neither repeat nor drop a
// notification.
type NotificationEntry struct {
	// Integration identifies the receiver configuration:
	// "<receiver>/<kind>/<index>", e.g. "team-x/slack/0".
	Integration string `json:"integration"`
	// GroupKey identifies the aggregation group (route and group labels).
	GroupKey string `json:"groupKey"`
	// AlertSetHash is the hex SHA-256 of the sorted firing and resolved
	// fingerprints (see AlertSetHash): equal hashes mean the same alerts
	// were notified in the same states.
	AlertSetHash string `json:"alertSetHash"`
	// FiringAlerts and ResolvedAlerts are the fingerprints notified as
	// firing and as resolved, sorted ascending.
	FiringAlerts   []Fingerprint `json:"firingAlerts"`
	ResolvedAlerts []Fingerprint `json:"resolvedAlerts"`
	// SentAt is when the notification was delivered.
	SentAt time.Time `json:"sentAt"`
	// ExpiresAt is when the entry may be pruned (SentAt plus the retention).
	ExpiresAt time.Time `json:"expiresAt"`
}

// NotificationLog keeps the last notification per (integration, group).
type NotificationLog interface {
	// LastNotification returns the entry for integration and groupKey, or
	// ErrNotFound.
	LastNotification(ctx context.Context, integration, groupKey string) (NotificationEntry, error)
	// RecordNotification stores e, replacing any entry with the same
	// Integration and GroupKey.
	RecordNotification(ctx context.Context, e NotificationEntry) error
	// PruneNotifications deletes the entries whose ExpiresAt is strictly
	// before now and returns how many it deleted.
	PruneNotifications(ctx context.Context, now time.Time) (int, error)
}
