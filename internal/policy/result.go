package policy

import (
	"fmt"
	"strings"
)

// Severity ranks how much a failed rule matters.
type Severity uint8

// Severities from least to most severe. SeverityUnknown is the zero value
// and sorts below every named severity.
const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "info", "low", "medium", "high", "critical"}

// String returns the lower-case name of s.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// ParseSeverity parses a severity name (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for i, s := range severityNames {
		if s == n && i != int(SeverityUnknown) {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q: want info, low, medium, high or critical", name)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Outcome is the result of one rule on one resource.
type Outcome string

// Outcomes.
const (
	// Pass means the resource satisfies the rule.
	Pass Outcome = "pass"
	// Fail means the resource violates the rule.
	Fail Outcome = "fail"
	// Skip means the rule applies to the resource but could not be
	// evaluated (for example a policy parameter object is missing); Message
	// says why.
	Skip Outcome = "skip"
)

// Action is what an admission controller does with a failed result.
// The names are those of a ValidatingAdmissionPolicyBinding's
// validationActions.
type Action string

// Actions.
const (
	// ActionDeny rejects the request.
	ActionDeny Action = "Deny"
	// ActionWarn admits the request and returns a warning to the client.
	ActionWarn Action = "Warn"
	// ActionAudit admits the request and records the violation.
	ActionAudit Action = "Audit"
)

// ParseAction parses an action name (case-insensitive; "enforce" is an alias
// of Deny).
func ParseAction(name string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "deny", "enforce":
		return ActionDeny, nil
	case "warn":
		return ActionWarn, nil
	case "audit":
		return ActionAudit, nil
	}
	return "", fmt.Errorf("unknown action %q: want Deny (enforce), Warn or Audit", name)
}

// Resource identifies the object a result is about.
type Resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// String returns kind/namespace/name (kind/name for cluster-scoped objects).
func (r Resource) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Result is the outcome of one rule on one resource.
type Result struct {
	// Policy names the pack or policy the rule belongs to
	// (pss-restricted, best-practice, a ValidatingAdmissionPolicy name…).
	Policy string `json:"policy"`
	// Rule names the rule within the policy.
	Rule string `json:"rule"`
	// Control is the upstream control identifier where one exists (the Pod
	// Security Admission check ID for PSS results), else the rule name.
	Control string `json:"control"`
	// Resource is the object evaluated.
	Resource Resource `json:"resource"`
	// Result is pass, fail or skip.
	Result Outcome `json:"result"`
	// Severity ranks a failure.
	Severity Severity `json:"severity"`
	// Message explains the outcome.
	Message string `json:"message,omitempty"`
	// Field is the path of the offending field within the object, e.g.
	// spec.template.spec.containers[0].securityContext.privileged.
	Field string `json:"field,omitempty"`
	// Remediation says how to fix a failure.
	Remediation string `json:"remediation,omitempty"`
	// Source is the file and document the object came from, if any.
	Source string `json:"source,omitempty"`
	// Actions, when set, are the admission actions the policy itself asks
	// for (a ValidatingAdmissionPolicyBinding's validationActions); when
	// empty the admission controller's per-policy mode applies.
	Actions []Action `json:"actions,omitempty"`
}

// Failed reports whether r failed at or above min severity.
func (r *Result) Failed(min Severity) bool {
	return r.Result == Fail && r.Severity >= min
}
