// Package celpolicy evaluates custom policies written in CEL with the
// Kubernetes CEL environment and libraries (k8s.io/apiserver/pkg/cel), the
// apiserver's admission CEL compiler and its runtime cost budget. It reads
// two formats:
//
//   - Kubernetes ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding
//     (admissionregistration.k8s.io/v1), loaded unchanged: validations,
//     matchConstraints, matchConditions, variables, messageExpression,
//     failurePolicy, paramKind with the binding's paramRef (parameter objects
//     are looked up in the evaluated set) and validationActions. A policy
//     that no loaded binding references is evaluated as if bound once with
//     validationActions [Deny] and no parameters, so that a lone policy file
//     can be scanned; a policy with paramKind needs a binding.
//   - kubeward's CELPolicy (policy.kubeward.io/v1alpha1), the same fields
//     plus inline params, a severity and remediation per validation, and a
//     name per validation (see CELPolicy).
//
// Severity and remediation of a ValidatingAdmissionPolicy come from its
// annotations policy.kubeward.io/severity (default high) and
// policy.kubeward.io/remediation.
package celpolicy

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group and version of kubeward's own policy kinds.
const (
	Group      = "policy.kubeward.io"
	APIVersion = Group + "/v1alpha1"
	// KindCELPolicy is the kind of CELPolicy documents.
	KindCELPolicy = "CELPolicy"
)

// Annotations read from ValidatingAdmissionPolicy objects.
const (
	AnnotationSeverity    = Group + "/severity"
	AnnotationRemediation = Group + "/remediation"
)

// CELPolicy is kubeward's custom policy: a ValidatingAdmissionPolicy with
// its binding and parameters in one document.
//
//	apiVersion: policy.kubeward.io/v1alpha1
//	kind: CELPolicy
//	metadata: {name: replica-limit}
//	spec:
//	  severity: medium
//	  validationActions: [Deny]
//	  matchConstraints:
//	    resourceRules:
//	    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
//	  params: {maxReplicas: 5}
//	  validations:
//	  - name: max-replicas
//	    expression: "object.spec.replicas <= params.maxReplicas"
//	    messageExpression: "'replicas must be at most ' + string(params.maxReplicas)"
//	    fieldPath: spec.replicas
//	    remediation: Lower spec.replicas.
type CELPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CELPolicySpec `json:"spec"`
}

// CELPolicySpec is the body of a CELPolicy.
type CELPolicySpec struct {
	// Severity of failures (default high), overridable per validation.
	Severity string `json:"severity,omitempty"`
	// Remediation for failures, overridable per validation.
	Remediation string `json:"remediation,omitempty"`
	// ValidationActions for admission (default [Deny]).
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions,omitempty"`
	// FailurePolicy says what an evaluation error does: Fail (default)
	// reports a failure, Ignore a skip.
	FailurePolicy *admissionregistrationv1.FailurePolicyType `json:"failurePolicy,omitempty"`
	// MatchConstraints select the objects, as in a ValidatingAdmissionPolicy.
	MatchConstraints *admissionregistrationv1.MatchResources `json:"matchConstraints,omitempty"`
	// MatchConditions further filter objects with CEL.
	MatchConditions []admissionregistrationv1.MatchCondition `json:"matchConditions,omitempty"`
	// Variables are named CEL expressions available as variables.NAME.
	Variables []admissionregistrationv1.Variable `json:"variables,omitempty"`
	// Params is any object, available to expressions as params.
	Params map[string]any `json:"params,omitempty"`
	// Validations are the rules.
	Validations []CELValidation `json:"validations"`
}

// CELValidation is one rule of a CELPolicy.
type CELValidation struct {
	admissionregistrationv1.Validation `json:",inline"`
	// Name is the rule name in results (default validations[N]).
	Name string `json:"name,omitempty"`
	// FieldPath is the path of the field the rule is about, reported with
	// failures (spec.replicas).
	FieldPath string `json:"fieldPath,omitempty"`
	// Severity overrides the policy's severity.
	Severity string `json:"severity,omitempty"`
	// Remediation overrides the policy's remediation.
	Remediation string `json:"remediation,omitempty"`
}
