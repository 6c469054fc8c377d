package audit

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API group, version and kinds of the wgpolicyk8s.io policy report API
// (v1alpha2, as kube-bench, Kyverno and Trivy Operator write it).
const (
	Group                   = "wgpolicyk8s.io"
	Version                 = "v1alpha2"
	KindPolicyReport        = "PolicyReport"
	KindClusterPolicyReport = "ClusterPolicyReport"
)

// Resources of the two report kinds.
var (
	PolicyReportResource        = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "policyreports"}
	ClusterPolicyReportResource = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "clusterpolicyreports"}
)

// Result outcomes of the report API.
const (
	OutcomePass  = "pass"
	OutcomeFail  = "fail"
	OutcomeWarn  = "warn"
	OutcomeError = "error"
	OutcomeSkip  = "skip"
)

// PolicyReport is a wgpolicyk8s.io/v1alpha2 PolicyReport (Kind
// KindPolicyReport, namespaced) or ClusterPolicyReport (Kind
// KindClusterPolicyReport, cluster-scoped): both kinds share this shape.
// Only the fields kubeward writes are declared.
type PolicyReport struct {
	// APIVersion is wgpolicyk8s.io/v1alpha2.
	APIVersion string `json:"apiVersion"`
	// Kind is KindPolicyReport or KindClusterPolicyReport.
	Kind string `json:"kind"`
	// Metadata is the report's object metadata.
	Metadata ReportMeta `json:"metadata"`
	// Scope, when set, is the single object the report is about.
	Scope *ObjectReference `json:"scope,omitempty"`
	// Summary counts every result of the audit, including those left out
	// of Results to keep the report small.
	Summary Summary `json:"summary"`
	// Results are the results kept in the report, failures first.
	Results []ReportResult `json:"results,omitempty"`
}

// ReportMeta is the part of object metadata a report carries.
type ReportMeta struct {
	// Name of the report.
	Name string `json:"name"`
	// Namespace of a PolicyReport; empty for a ClusterPolicyReport.
	Namespace string `json:"namespace,omitempty"`
	// Labels of the report.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations of the report.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Summary counts results by outcome.
type Summary struct {
	// Pass counts passed results.
	Pass int `json:"pass"`
	// Fail counts failed results.
	Fail int `json:"fail"`
	// Warn counts warnings.
	Warn int `json:"warn"`
	// Error counts results whose evaluation failed.
	Error int `json:"error"`
	// Skip counts rules that could not be evaluated.
	Skip int `json:"skip"`
}

// Add counts one result with outcome (one of the Outcome constants).
func (s *Summary) Add(outcome string) {
	switch outcome {
	case OutcomePass:
		s.Pass++
	case OutcomeFail:
		s.Fail++
	case OutcomeWarn:
		s.Warn++
	case OutcomeError:
		s.Error++
	case OutcomeSkip:
		s.Skip++
	}
}

// Total returns the number of results counted.
func (s Summary) Total() int { return s.Pass + s.Fail + s.Warn + s.Error + s.Skip }

// ReportResult is one policy result in a report.
type ReportResult struct {
	// Policy is the policy (pack) name.
	Policy string `json:"policy"`
	// Rule is the rule within the policy.
	Rule string `json:"rule,omitempty"`
	// Category groups policies (Pod Security Standards, Best Practices…).
	Category string `json:"category,omitempty"`
	// Severity is critical, high, medium, low or info; empty when unknown.
	Severity string `json:"severity,omitempty"`
	// Result is one of the Outcome constants.
	Result string `json:"result"`
	// Message explains the result, truncated to the auditor's bound.
	Message string `json:"message,omitempty"`
	// Resources are the objects the result is about.
	Resources []ObjectReference `json:"resources,omitempty"`
	// Source names the engine that produced the result ("kubeward").
	Source string `json:"source,omitempty"`
	// Timestamp is when the result was computed.
	Timestamp metav1.Timestamp `json:"timestamp"`
	// Properties carry extra detail (control, field, remediation).
	Properties map[string]string `json:"properties,omitempty"`
}

// ObjectReference identifies an object in a report.
type ObjectReference struct {
	// APIVersion of the object.
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the object.
	Kind string `json:"kind,omitempty"`
	// Namespace of the object; empty when cluster-scoped.
	Namespace string `json:"namespace,omitempty"`
	// Name of the object.
	Name string `json:"name,omitempty"`
	// UID of the object, so that a recreated object is told apart.
	UID string `json:"uid,omitempty"`
}
