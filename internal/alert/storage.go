package alert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/valyala/fastjson"
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
	// QueryAlerts returns one page of the alerts q selects, in AlertOrder
	// (most recently started first, ties by fingerprint), and how many
	// alerts q selects in all. Stores evaluate what their query language
	// can (see AlertQuery.Plan) next to the data, and the rest in Go, so
	// that total, limit and offset mean the same on every store. It returns
	// an error wrapping ErrInvalidQuery when q does not validate.
	QueryAlerts(ctx context.Context, q AlertQuery) (alerts []Alert, total int, err error)
	// DeleteAlertsResolvedBefore deletes the alerts whose EndsAt is set
	// (non-zero) and strictly before t, and returns how many it deleted.
	// Firing alerts (zero EndsAt) are never deleted.
	DeleteAlertsResolvedBefore(ctx context.Context, t time.Time) (int, error)
}

// ErrInvalidQuery is wrapped by the errors QueryAlerts and
// AlertQuery.Plan return for a query that does not validate (a negative
// limit, an unknown severity, a malformed matcher): the caller's mistake,
// not the store's.
var ErrInvalidQuery = errors.New("alert: invalid query")

// AlertQuery selects, orders and pages stored alerts for
// AlertStore.QueryAlerts. Zero fields do not filter; conditions combine
// with AND, the values of one list field with OR.
type AlertQuery struct {
	// Firing, when set, keeps the alerts that fire (true) or have been
	// resolved (false) at Now; see Alert.Resolved.
	Firing *bool
	// Now is the instant Firing is evaluated at. It is required when
	// Firing is set.
	Now time.Time
	// Severities keeps the alerts of any of these severities.
	Severities []Severity
	// Sources keeps the alerts of any of these sources.
	Sources []Source
	// Matchers must all match the alert's labels, a missing label having
	// the value "" (see Matchers.Matches). Stores evaluate = and != next
	// to the data and regular expressions in Go.
	Matchers []Matcher
	// Acknowledged, when set, keeps the alerts that are (true) or are not
	// (false) acknowledged.
	Acknowledged *bool
	// Keep, when set, is one more condition, evaluated in Go on each
	// alert that every other condition selects, in AlertOrder: what no
	// store can evaluate, such as whether a silence or an inhibition rule
	// mutes the alert now. It must neither modify nor retain the alert,
	// and it may be called from the goroutine that called QueryAlerts
	// only.
	Keep func(*Alert) bool
	// Limit bounds the page; 0 means no bound.
	Limit int
	// Offset skips that many selected alerts before the page.
	Offset int
}

// AlertOrder compares two alerts in the order QueryAlerts returns them:
// the most recently started first, ties by fingerprint ascending (the
// order of their 16-hex-digit strings).
func AlertOrder(a, b *Alert) int {
	if c := b.StartsAt.Compare(a.StartsAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Fingerprint(), b.Fingerprint())
}

// AlertQueryPlan is a validated AlertQuery split into what a store
// evaluates next to its data and what is left for Go. Every store uses
// it, so that all of them select exactly the same alerts.
type AlertQueryPlan struct {
	// Query is the validated query.
	Query AlertQuery
	// Pushed are the equality matchers of Query.Matchers (= and !=): a
	// store evaluates them next to its data, comparing the label's value,
	// or "" when the alert lacks the label, with the matcher's value.
	Pushed []Matcher
	// all are every matcher, compiled; inGo the regular expression ones.
	all, inGo Matchers
}

// Plan validates q and splits it into an AlertQueryPlan. The error wraps
// ErrInvalidQuery and says what to fix.
func (q AlertQuery) Plan() (*AlertQueryPlan, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d is negative", ErrInvalidQuery, q.Limit)
	}
	if q.Offset < 0 {
		return nil, fmt.Errorf("%w: offset %d is negative", ErrInvalidQuery, q.Offset)
	}
	if q.Firing != nil && q.Now.IsZero() {
		return nil, fmt.Errorf("%w: the firing condition needs the time to evaluate it at (Now)", ErrInvalidQuery)
	}
	for _, sev := range q.Severities {
		if !sev.Valid() {
			return nil, fmt.Errorf("%w: severity %q: want critical, high, medium, low or info", ErrInvalidQuery, sev)
		}
	}
	for _, src := range q.Sources {
		if !src.Valid() {
			return nil, fmt.Errorf("%w: source %q: want finding, violation, detection, anomaly or response", ErrInvalidQuery, src)
		}
	}
	p := &AlertQueryPlan{Query: q}
	var regexps []Matcher
	for _, m := range q.Matchers {
		switch m.Type {
		case MatchEqual, MatchNotEqual:
			p.Pushed = append(p.Pushed, m)
		default:
			regexps = append(regexps, m)
		}
	}
	var err error
	if p.all, err = CompileMatchers(q.Matchers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	if p.inGo, err = CompileMatchers(regexps); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	return p, nil
}

// InGo reports whether part of the query is evaluated in Go (regular
// expression matchers or Keep). A store then reads, in AlertOrder, every
// alert that the pushed conditions select, passes each to KeepInGo and
// pages with a Pager; otherwise it counts and pages next to its data.
func (p *AlertQueryPlan) InGo() bool {
	return p.inGo.Len() > 0 || p.Query.Keep != nil
}

// KeepInGo evaluates the part of the query left for Go on a, an alert
// that the pushed conditions select.
func (p *AlertQueryPlan) KeepInGo(a *Alert) bool {
	return p.inGo.Matches(a.Labels) && (p.Query.Keep == nil || p.Query.Keep(a))
}

// Matches evaluates the whole query on a, in Go: for stores that hold
// their alerts in memory.
func (p *AlertQueryPlan) Matches(a *Alert) bool {
	q := &p.Query
	if q.Firing != nil && *q.Firing == a.Resolved(q.Now) {
		return false
	}
	if len(q.Severities) > 0 && !slices.Contains(q.Severities, a.Severity) {
		return false
	}
	if len(q.Sources) > 0 && !slices.Contains(q.Sources, a.Source) {
		return false
	}
	if q.Acknowledged != nil && *q.Acknowledged != (a.Ack != nil) {
		return false
	}
	return p.all.Matches(a.Labels) && (q.Keep == nil || q.Keep(a))
}

// Pager returns a pager for the query's limit and offset.
func (p *AlertQueryPlan) Pager() *AlertPager {
	return &AlertPager{limit: p.Query.Limit, offset: p.Query.Offset}
}

// AlertPager counts the selected alerts a store passes it in AlertOrder
// and keeps those of the requested page.
type AlertPager struct {
	limit, offset, total int
	page                 []Alert
}

// InPage reports whether the next alert Add counts falls in the page: a
// store may skip decoding the alerts that do not.
func (pg *AlertPager) InPage() bool {
	return pg.total >= pg.offset && (pg.limit == 0 || pg.total < pg.offset+pg.limit)
}

// Add counts a selected alert and keeps it when it falls in the page.
// The pager keeps a itself: pass a copy the caller does not modify.
func (pg *AlertPager) Add(a Alert) {
	if pg.InPage() {
		pg.page = append(pg.page, a)
	}
	pg.total++
}

// Count counts a selected alert that falls outside the page (InPage
// returned false) without keeping it.
func (pg *AlertPager) Count() { pg.total++ }

// Result returns the page and the number of alerts counted.
func (pg *AlertPager) Result() ([]Alert, int) { return pg.page, pg.total }

// storedMapParsers are the parsers DecodeStoredMap borrows.
var storedMapParsers fastjson.ParserPool

// DecodeStoredMap decodes a JSON object whose values are strings, the
// form in which stores keep label sets and annotations (written by
// encoding/json), or null (nil). It is several times faster than
// encoding/json, which matters because a store decodes two of them for
// every alert it reads. A later duplicate key wins, as in encoding/json.
// It is more lenient than encoding/json (it accepts some invalid escapes
// such as \0), which is harmless on what encoding/json wrote.
func DecodeStoredMap(data []byte) (map[string]string, error) {
	p := storedMapParsers.Get()
	defer storedMapParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("stored JSON object: %w", err)
	}
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	obj, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf("stored JSON: want an object of strings: %w", err)
	}
	m := make(map[string]string, obj.Len())
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		s, serr := v.StringBytes()
		if serr != nil {
			err = fmt.Errorf("stored JSON object: member %q: want a string: %w", key, serr)
			return
		}
		m[string(key)] = string(s)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
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
