// Package alert is kubeward's alert model: every finding, policy violation,
// runtime detection, network anomaly and response action that deserves a
// human's attention becomes an Alert with a stable fingerprint. The
// subpackages route, group, deduplicate, silence, inhibit and deliver alerts
// the way Prometheus Alertmanager does (see package dispatch for the
// pipeline and package notify for the receivers).
//
// This package holds the model, label matchers, the storage interfaces the
// pipeline persists through and the clock it reads time from. It imports no
// transport and no storage backend.
package alert

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Well-known label names. Routing, grouping, silences and inhibition work
// on labels only, so the severity and source of an alert are mirrored into
// these labels by Normalize.
const (
	// LabelAlertName names the kind of alert ("PrivilegedContainer",
	// "CVE-2024-3094"); every alert must have it.
	LabelAlertName = "alertname"
	// LabelSeverity mirrors Alert.Severity.
	LabelSeverity = "severity"
	// LabelSource mirrors Alert.Source.
	LabelSource = "source"
)

// Severity ranks how urgent an alert is.
type Severity string

// Severities, most urgent first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Valid reports whether s is one of the defined severities.
func (s Severity) Valid() bool {
	switch s {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo:
		return true
	}
	return false
}

// Source says which part of kubeward raised an alert.
type Source string

// Sources of alerts.
const (
	// SourceFinding is a vulnerability or misconfiguration finding of a scan.
	SourceFinding Source = "finding"
	// SourceViolation is a policy violation (admission or audit).
	SourceViolation Source = "violation"
	// SourceDetection is a runtime detection (audit rules, Falco, Tetragon).
	SourceDetection Source = "detection"
	// SourceAnomaly is a network anomaly classified by a flow model.
	SourceAnomaly Source = "anomaly"
	// SourceResponse reports a response action taken or undone.
	SourceResponse Source = "response"
)

// Valid reports whether s is one of the defined sources.
func (s Source) Valid() bool {
	switch s {
	case SourceFinding, SourceViolation, SourceDetection, SourceAnomaly, SourceResponse:
		return true
	}
	return false
}

// LabelSet is a set of label name/value pairs identifying an alert.
type LabelSet map[string]string

// Fingerprint identifies an alert by its label set.
//
// It is the 64-bit FNV-1a hash that Prometheus and Alertmanager compute
// (model.LabelSet.Fingerprint): label names are sorted, then each name and
// value is hashed, each followed by the byte 0xff. An alert therefore has the
// same fingerprint in kubeward and in an Alertmanager it is forwarded to, and
// the value never changes between releases.
type Fingerprint uint64

// Fingerprint returns the fingerprint of ls.
func (ls LabelSet) Fingerprint() Fingerprint {
	return Fingerprint(model.LabelsToSignature(ls))
}

// String formats f as 16 lower-case hex digits, the form stored and shown.
func (f Fingerprint) String() string { return fmt.Sprintf("%016x", uint64(f)) }

// ParseFingerprint parses the 16-hex-digit form written by String.
func ParseFingerprint(s string) (Fingerprint, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("alert: fingerprint %q is not 16 hex digits: %w", s, err)
	}
	return Fingerprint(v), nil
}

// MarshalText implements encoding.TextMarshaler.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	v, err := ParseFingerprint(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// String renders ls as {a="1", b="2"} with names sorted.
func (ls LabelSet) String() string {
	names := slices.Sorted(maps.Keys(ls))
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(ls[n]))
	}
	b.WriteByte('}')
	return b.String()
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ValidLabelName reports whether name is a valid label name
// ([a-zA-Z_][a-zA-Z0-9_]*, as in Prometheus).
func ValidLabelName(name string) bool { return labelNameRE.MatchString(name) }

// Validate reports the first invalid label name or empty value.
func (ls LabelSet) Validate() error {
	for _, n := range slices.Sorted(maps.Keys(ls)) {
		if !ValidLabelName(n) {
			return fmt.Errorf("alert: label name %q is invalid: use letters, digits and underscores, not starting with a digit", n)
		}
		if ls[n] == "" {
			return fmt.Errorf("alert: label %q has an empty value: omit the label instead", n)
		}
	}
	return nil
}

// Ack records that a person acknowledged an alert. Acknowledging is
// informational: it is shown with the alert and does not change routing.
type Ack struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Alert is one alert: a label set that identifies it, annotations that
// describe it, and the time range during which it fires.
type Alert struct {
	// Labels identify the alert; the fingerprint is computed from them.
	Labels LabelSet `json:"labels"`
	// Annotations carry descriptive text (summary, description, runbook).
	Annotations map[string]string `json:"annotations,omitempty"`
	// Severity and Source are mirrored in the labels of the same name.
	Severity Severity `json:"severity"`
	Source   Source   `json:"source"`
	// StartsAt is when the alert started firing.
	StartsAt time.Time `json:"startsAt"`
	// EndsAt is when the alert stopped firing; zero means it fires until a
	// later update resolves it.
	EndsAt time.Time `json:"endsAt,omitzero"`
	// UpdatedAt is when the pipeline last received the alert.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// GeneratorID identifies the finding, violation or event that raised
	// the alert ("finding/9f2c…", "event/…").
	GeneratorID string `json:"generatorID,omitempty"`
	// GeneratorURL links to that object in the console or API.
	GeneratorURL string `json:"generatorURL,omitempty"`
	// Ack is set once someone acknowledged this firing episode.
	Ack *Ack `json:"ack,omitempty"`
}

// Fingerprint returns the fingerprint of a's labels.
func (a *Alert) Fingerprint() Fingerprint { return a.Labels.Fingerprint() }

// Name returns the alertname label.
func (a *Alert) Name() string { return a.Labels[LabelAlertName] }

// Resolved reports whether a has stopped firing at now.
func (a *Alert) Resolved(now time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(now)
}

// Clone returns a deep copy of a.
func (a Alert) Clone() Alert {
	a.Labels = maps.Clone(a.Labels)
	a.Annotations = maps.Clone(a.Annotations)
	if a.Ack != nil {
		ack := *a.Ack
		a.Ack = &ack
	}
	return a
}

// Normalize mirrors Severity and Source into the labels of the same name
// (or fills the fields from those labels) and validates the result. It
// returns an error saying what to fix; a is modified only on success.
func (a *Alert) Normalize() error {
	labels := maps.Clone(a.Labels)
	if labels == nil {
		labels = LabelSet{}
	}
	sev, src := a.Severity, a.Source
	if err := mirror(labels, LabelSeverity, (*string)(&sev)); err != nil {
		return err
	}
	if err := mirror(labels, LabelSource, (*string)(&src)); err != nil {
		return err
	}
	if labels[LabelAlertName] == "" {
		return errors.New("alert: the alertname label is required")
	}
	if !sev.Valid() {
		return fmt.Errorf("alert: severity %q is invalid: want critical, high, medium, low or info", sev)
	}
	if !src.Valid() {
		return fmt.Errorf("alert: source %q is invalid: want finding, violation, detection, anomaly or response", src)
	}
	if err := labels.Validate(); err != nil {
		return err
	}
	if a.StartsAt.IsZero() {
		return errors.New("alert: startsAt is required")
	}
	if !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return fmt.Errorf("alert: endsAt %s is before startsAt %s", a.EndsAt.Format(time.RFC3339), a.StartsAt.Format(time.RFC3339))
	}
	a.Labels, a.Severity, a.Source = labels, sev, src
	return nil
}

func mirror(labels LabelSet, name string, field *string) error {
	lv := labels[name]
	switch {
	case *field == "" && lv == "":
		return fmt.Errorf("alert: %s is required (field or label)", name)
	case *field == "":
		*field = lv
	case lv == "":
		labels[name] = *field
	case lv != *field:
		return fmt.Errorf("alert: %s field %q disagrees with %s label %q: set one of them", name, *field, name, lv)
	}
	return nil
}

// Merge combines the stored version of an alert with a newly received one
// of the same fingerprint, as Alertmanager does: when their time ranges
// overlap they are one firing episode (the earliest StartsAt is kept, the
// newer update's annotations and EndsAt win, an acknowledgement is kept);
// otherwise the new alert starts a new episode and replaces the old one.
func Merge(old, recv Alert) Alert {
	overlaps := (old.EndsAt.IsZero() || !old.EndsAt.Before(recv.StartsAt)) &&
		(recv.EndsAt.IsZero() || !old.StartsAt.After(recv.EndsAt))
	if !overlaps {
		return recv
	}
	res := recv
	if old.StartsAt.Before(res.StartsAt) {
		res.StartsAt = old.StartsAt
	}
	if res.Ack == nil {
		res.Ack = old.Ack
	}
	if recv.UpdatedAt.Before(old.UpdatedAt) {
		// An out-of-order update: the stored version is newer.
		res.EndsAt, res.Annotations, res.UpdatedAt = old.EndsAt, old.Annotations, old.UpdatedAt
	}
	return res
}
