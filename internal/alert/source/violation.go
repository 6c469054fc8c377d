package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
)

// Labels set on alerts raised by violations.
const (
	// LabelPolicy, LabelRule and LabelControl name the policy, its rule and
	// the upstream control (Pod Security check ID) that failed.
	LabelPolicy  = "policy"
	LabelRule    = "rule"
	LabelControl = "control"
)

// Annotations set on alerts raised by violations, besides summary.
const (
	AnnotationRemediation = "remediation"
	AnnotationField       = "field"
	AnnotationDecision    = "decision"
	AnnotationAction      = "action"
	AnnotationOperation   = "operation"
	AnnotationRequestUID  = "request_uid"
	AnnotationUser        = "user"
)

// Violation converts a message of topic admission.TopicViolations, the
// JSON encoding of admission.Violation.
//
// The alert is identified by the failed rule and the object: labels
// alertname (the rule), policy, rule, control, kind, namespace and name.
// The requesting user, the decision and the request are annotations, so
// repeated requests for the same object are one alert. It ends
// ResolveAfter after the request.
func (c Converter) Violation(msg bus.Message) (alert.Alert, error) {
	if err := checkSize(msg); err != nil {
		return alert.Alert{}, err
	}
	var v admission.Violation
	dec := json.NewDecoder(bytes.NewReader(msg.Value))
	if err := dec.Decode(&v); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: invalid policy violation JSON: %w", coordinates(msg), err)
	}
	if dec.More() {
		return alert.Alert{}, fmt.Errorf("message %s: invalid policy violation JSON: trailing data after the violation object", coordinates(msg))
	}
	r := v.Result
	if r.Result != policy.Fail {
		return alert.Alert{}, fmt.Errorf("message %s: policy result %q is not a violation: only failed results are published", coordinates(msg), r.Result)
	}
	if strings.TrimSpace(r.Rule) == "" {
		return alert.Alert{}, fmt.Errorf("message %s: policy violation without a rule name", coordinates(msg))
	}
	start, err := eventTime(v.Time, msg)
	if err != nil {
		return alert.Alert{}, err
	}
	labels := alert.LabelSet{alert.LabelAlertName: r.Rule}
	setNonEmpty(labels, LabelPolicy, r.Policy)
	setNonEmpty(labels, LabelRule, r.Rule)
	setNonEmpty(labels, LabelControl, r.Control)
	setNonEmpty(labels, LabelKind, r.Resource.Kind)
	setNonEmpty(labels, LabelNamespace, r.Resource.Namespace)
	setNonEmpty(labels, LabelName, r.Resource.Name)
	annotations := map[string]string{}
	setNonEmpty(annotations, AnnotationSummary, r.Message)
	setNonEmpty(annotations, AnnotationRemediation, r.Remediation)
	setNonEmpty(annotations, AnnotationField, r.Field)
	setNonEmpty(annotations, AnnotationDecision, v.Decision)
	setNonEmpty(annotations, AnnotationAction, string(v.Action))
	setNonEmpty(annotations, AnnotationOperation, v.Operation)
	setNonEmpty(annotations, AnnotationRequestUID, v.RequestUID)
	setNonEmpty(annotations, AnnotationUser, v.User)
	a := alert.Alert{
		Labels:      labels,
		Annotations: annotations,
		Severity:    PolicySeverity(r.Severity),
		Source:      alert.SourceViolation,
		StartsAt:    start,
		EndsAt:      start.Add(c.resolveAfter()),
		GeneratorID: "bus/" + coordinates(msg),
	}
	if err := a.Normalize(); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: %w", coordinates(msg), err)
	}
	return a, nil
}

// PolicySeverity maps a policy severity to an alert severity (same names);
// an unrated rule (policy.SeverityUnknown) maps to medium, so that it
// neither pages nor disappears among the informational alerts.
func PolicySeverity(s policy.Severity) alert.Severity {
	switch s {
	case policy.SeverityCritical:
		return alert.SeverityCritical
	case policy.SeverityHigh:
		return alert.SeverityHigh
	case policy.SeverityLow:
		return alert.SeverityLow
	case policy.SeverityInfo:
		return alert.SeverityInfo
	default:
		return alert.SeverityMedium
	}
}
