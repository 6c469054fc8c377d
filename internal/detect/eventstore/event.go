// Package eventstore keeps the detection engine's detections as queryable
// security events: the Event model decoded from the Falco json_output
// messages of topic detect.Topic, the Store interface its backends
// implement, an in-memory Store, and the bus consumer that fills a Store.
package eventstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubeward/kubeward/internal/detect/rules"
)

// Event is one stored detection.
type Event struct {
	// ID identifies the event: a hash of its Falco JSON, so a redelivered
	// detection is stored once.
	ID       string         `json:"id"`
	Time     time.Time      `json:"time"`
	Rule     string         `json:"rule"`
	Priority rules.Priority `json:"priority"`
	Source   string         `json:"source"`
	// Output is the full Falco output line.
	Output string `json:"output"`
	// OutputFields are the rule's output fields as Falco reports them.
	OutputFields json.RawMessage `json:"output_fields"`
	Tags         []string        `json:"tags"`
	Hostname     string          `json:"hostname"`
	// Namespace and Pod are read from the output fields when they name
	// them; empty otherwise.
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	// Raw is the Falco json_output line the event was decoded from
	// (compacted).
	Raw json.RawMessage `json:"-"`
}

// falcoJSON is what Decode reads of a Falco json_output alert. Unknown
// members are ignored: Falco adds some over releases.
type falcoJSON struct {
	Hostname     string          `json:"hostname"`
	Output       string          `json:"output"`
	OutputFields json.RawMessage `json:"output_fields"`
	Priority     string          `json:"priority"`
	Rule         string          `json:"rule"`
	Source       string          `json:"source"`
	Tags         []string        `json:"tags"`
	Time         time.Time       `json:"time"`
}

// Output fields naming the Kubernetes namespace and pod, most specific
// first: Falco syscall events carry k8s.* (k8smeta.* with the k8smeta
// plugin), Tetragon events tetragon.pod.*, audit events ka.target.* (the
// target's name is a pod's when its resource is pods).
var (
	namespaceFields = []string{"k8s.ns.name", "k8smeta.ns.name", "tetragon.pod.namespace", "ka.target.namespace"}
	podFields       = []string{"k8s.pod.name", "k8smeta.pod.name", "tetragon.pod.name"}
)

// notAvailable is Falco's value for a field the event does not have.
const notAvailable = "<NA>"

// Decode parses one Falco json_output alert (the value of a detect.Topic
// message, or a line Falco itself writes). It must be UTF-8 JSON; the
// rule, a valid priority and the time are required.
func Decode(b []byte) (Event, error) {
	var raw bytes.Buffer
	if err := json.Compact(&raw, b); err != nil {
		return Event{}, fmt.Errorf("eventstore: not JSON: %w", err)
	}
	if !utf8.Valid(raw.Bytes()) {
		return Event{}, errors.New("eventstore: the alert is not valid UTF-8")
	}
	var f falcoJSON
	if err := json.Unmarshal(raw.Bytes(), &f); err != nil {
		return Event{}, fmt.Errorf("eventstore: not a Falco json_output alert: %w", err)
	}
	if f.Rule == "" {
		return Event{}, errors.New("eventstore: the alert has no rule")
	}
	if f.Time.IsZero() {
		return Event{}, fmt.Errorf("eventstore: alert of rule %q has no time", f.Rule)
	}
	prio, err := rules.ParsePriority(f.Priority)
	if err != nil {
		return Event{}, fmt.Errorf("eventstore: alert of rule %q: %w", f.Rule, err)
	}
	fields := map[string]any{}
	if len(f.OutputFields) > 0 && !bytes.Equal(f.OutputFields, []byte("null")) {
		if err := json.Unmarshal(f.OutputFields, &fields); err != nil {
			return Event{}, fmt.Errorf("eventstore: alert of rule %q: output_fields is not an object: %w", f.Rule, err)
		}
	} else {
		f.OutputFields = json.RawMessage("{}")
	}
	if f.Tags == nil {
		f.Tags = []string{}
	}
	sum := sha256.Sum256(raw.Bytes())
	return Event{
		ID:           hex.EncodeToString(sum[:16]),
		Time:         f.Time.UTC(),
		Rule:         f.Rule,
		Priority:     prio,
		Source:       f.Source,
		Output:       f.Output,
		OutputFields: f.OutputFields,
		Tags:         f.Tags,
		Hostname:     f.Hostname,
		Namespace:    firstField(fields, namespaceFields),
		Pod:          podOf(fields),
		Raw:          json.RawMessage(raw.Bytes()),
	}, nil
}

// podOf returns the pod an alert's output fields name.
func podOf(fields map[string]any) string {
	if p := firstField(fields, podFields); p != "" {
		return p
	}
	if fields["ka.target.resource"] == "pods" {
		return firstField(fields, []string{"ka.target.name"})
	}
	return ""
}

// firstField returns the first of names whose value is a non-empty string
// other than <NA>.
func firstField(fields map[string]any, names []string) string {
	for _, n := range names {
		if s, ok := fields[n].(string); ok && s != "" && s != notAvailable {
			return s
		}
	}
	return ""
}

// List bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects events. Zero fields select everything; all given fields
// must match.
type Filter struct {
	Rule string
	// MinPriority, when set, keeps events at least this severe
	// (Emergency is the most severe).
	MinPriority *rules.Priority
	Source      string
	// Since (inclusive) and Until (exclusive) bound the event time.
	Since, Until time.Time
	// Text keeps events whose output contains it, ignoring the case of
	// ASCII letters.
	Text      string
	Namespace string
	Pod       string
	// Limit is the page size, 1 to MaxLimit; 0 means DefaultLimit.
	Limit  int
	Offset int
}

// Normalize validates f and returns it with defaults applied.
func (f Filter) Normalize() (Filter, error) {
	switch {
	case f.Limit == 0:
		f.Limit = DefaultLimit
	case f.Limit < 0 || f.Limit > MaxLimit:
		return f, fmt.Errorf("eventstore: filter: limit %d: want 1 to %d", f.Limit, MaxLimit)
	}
	if f.Offset < 0 {
		return f, fmt.Errorf("eventstore: filter: offset %d: want 0 or more", f.Offset)
	}
	if f.MinPriority != nil && (*f.MinPriority < rules.Emergency || *f.MinPriority > rules.Debug) {
		return f, fmt.Errorf("eventstore: filter: priority %d is not a Falco priority", int(*f.MinPriority))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, fmt.Errorf("eventstore: filter: until %s is not after since %s", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	f.Text = strings.TrimSpace(f.Text)
	return f, nil
}

// Match reports whether e passes f's conditions (not its paging).
func (f Filter) Match(e Event) bool {
	return (f.Rule == "" || e.Rule == f.Rule) &&
		(f.MinPriority == nil || e.Priority.AtLeast(*f.MinPriority)) &&
		(f.Source == "" || e.Source == f.Source) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until)) &&
		(f.Text == "" || strings.Contains(asciiLower(e.Output), asciiLower(f.Text))) &&
		(f.Namespace == "" || e.Namespace == f.Namespace) &&
		(f.Pod == "" || e.Pod == f.Pod)
}

// LikePattern returns the SQL LIKE pattern, with escape character '\',
// for "output contains f.Text": SQL backends use it with a LIKE that folds
// case (SQLite's LIKE folds ASCII letters, PostgreSQL's ILIKE folds all).
func (f Filter) LikePattern() string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(f.Text) + "%"
}

// asciiLower lower-cases ASCII letters only, as SQLite's LIKE folds.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// Page is one page of a listing.
type Page struct {
	// Items are the events, newest first (then by ID).
	Items []Event
	// Total counts every event the filter matches.
	Total int
}

// Store keeps events. Implementations are safe for concurrent use.
type Store interface {
	// Add stores events, skipping those whose ID is already stored, and
	// returns how many were new.
	Add(ctx context.Context, events []Event) (int, error)
	// List returns the events f matches, newest first.
	List(ctx context.Context, f Filter) (Page, error)
	// Prune deletes the events older than before and returns how many.
	Prune(ctx context.Context, before time.Time) (int, error)
}
