// Package admission serves kubeward's policy engine as a Kubernetes
// validating admission webhook (AdmissionReview admission.k8s.io/v1).
//
// Handler decodes a review (body limited to Config.MaxBodyBytes), runs the
// engine on the object and answers per policy: Deny rejects the request,
// Warn admits it with warnings kubectl prints, Audit admits it and records
// the violation. A policy's own validationActions (from a
// ValidatingAdmissionPolicyBinding or CELPolicy) take precedence over
// Config.Actions, which take precedence over Config.DefaultAction.
//
// Never evaluated: requests in kube-system or in Config.OwnNamespace,
// namespaces in Config.ExcludedNamespaces, DELETE and CONNECT operations
// and subresources.
//
// Emergency bypass: with Config.Bypass (the operator wires it to a flag
// and KUBEWARD_ADMISSION_BYPASS) every request is admitted; objects are
// still evaluated and violations published with decision "bypassed". A
// single object may carry the annotation policy.kubeward.io/emergency-bypass
// (value: the reason) to the same effect, honoured only when the requesting
// user belongs to one of Config.BypassGroups (a break-glass group).
//
// Every denial and every Audit violation (and every bypassed violation) is
// published on Config.Publisher, topic TopicViolations, keyed by
// namespace/kind/name, as a JSON Violation.
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/policy"
)

// TopicViolations is the bus topic violations are published on.
const TopicViolations = "policy.violations"

// AnnotationBypass is the per-object emergency bypass annotation.
const AnnotationBypass = "policy.kubeward.io/emergency-bypass"

// DefaultMaxBodyBytes bounds a review body: the apiserver's 3 MiB object
// limit, twice (object and oldObject), plus envelope.
const DefaultMaxBodyBytes = 7 << 20

// Path is the conventional path to mount the handler at.
const Path = "/validate"

// maxWarnings and maxWarningLen keep warnings within what the apiserver
// passes through.
const (
	maxWarnings   = 20
	maxWarningLen = 256
)

// Decisions, used in metrics and violations.
const (
	DecisionAllow    = "allow"
	DecisionDeny     = "deny"
	DecisionWarn     = "warn"
	DecisionAudit    = "audit"
	DecisionBypassed = "bypassed"
	DecisionSkipped  = "skipped"
	DecisionError    = "error"
)

// Config configures a Handler.
type Config struct {
	// Engine evaluates objects. Required.
	Engine *policy.Engine
	// DefaultAction applies to failures of policies without an entry in
	// Actions and without their own validationActions (default Warn, so
	// that enforcement is opted into per policy).
	DefaultAction policy.Action
	// Actions maps a policy name to its action.
	Actions map[string]policy.Action
	// MinSeverity ignores failures below it (default: none ignored).
	MinSeverity policy.Severity
	// OwnNamespace is the namespace kubeward runs in; always excluded.
	OwnNamespace string
	// ExcludedNamespaces are never evaluated (kube-system always is).
	ExcludedNamespaces []string
	// Bypass admits everything (emergency switch).
	Bypass bool
	// BypassGroups may bypass single objects with AnnotationBypass.
	BypassGroups []string
	// Params are parameter objects for ValidatingAdmissionPolicyBindings.
	Params []*policy.Object
	// Publisher receives violations; nil disables publishing.
	Publisher bus.Publisher
	// PublishTimeout bounds one publish (default 2s).
	PublishTimeout time.Duration
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Logger logs failures (default slog.Default()).
	Logger *slog.Logger
}

// Handler is the webhook http.Handler.
type Handler struct {
	cfg      Config
	excluded map[string]bool
}

// NewHandler validates cfg and returns a handler.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Engine == nil {
		return nil, errors.New("admission: Config.Engine is required")
	}
	if cfg.DefaultAction == "" {
		cfg.DefaultAction = policy.ActionWarn
	}
	for _, a := range append([]policy.Action{cfg.DefaultAction}, mapValues(cfg.Actions)...) {
		if _, err := policy.ParseAction(string(a)); err != nil {
			return nil, fmt.Errorf("admission: %w", err)
		}
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, excluded: map[string]bool{"kube-system": true}}
	if cfg.OwnNamespace != "" {
		h.excluded[cfg.OwnNamespace] = true
	}
	for _, ns := range cfg.ExcludedNamespaces {
		h.excluded[ns] = true
	}
	return h, nil
}

func mapValues(m map[string]policy.Action) []policy.Action {
	out := make([]policy.Action, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Violation is the bus message body for one failed result.
type Violation struct {
	// Time the request was decided.
	Time time.Time `json:"time"`
	// RequestUID is the AdmissionReview request UID.
	RequestUID string `json:"requestUID"`
	// Operation is CREATE or UPDATE.
	Operation string `json:"operation"`
	// User is the requesting user name.
	User string `json:"user"`
	// Decision is the request's decision (deny, audit, bypassed…).
	Decision string `json:"decision"`
	// Action is the action that applied to this result.
	Action policy.Action `json:"action"`
	// Result is the failed result.
	Result policy.Result `json:"result"`
}

type httpError struct {
	code   int
	reason string
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	review, herr := h.decode(w, r)
	if herr != nil {
		badRequests.WithLabelValues(herr.reason).Inc()
		h.cfg.Logger.Warn("rejected admission review", "reason", herr.reason, "err", herr.err, "remote", r.RemoteAddr)
		http.Error(w, herr.Error(), herr.code)
		return
	}
	req := review.Request
	resp, decision := h.review(r.Context(), req)
	resp.UID = req.UID
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		h.cfg.Logger.Error("writing admission response", "err", err, "uid", req.UID)
	}
	reviewDuration.WithLabelValues(decision, req.Kind.Kind, string(req.Operation)).Observe(time.Since(start).Seconds())
}

func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, *httpError) {
	if r.Method != http.MethodPost {
		return nil, &httpError{http.StatusMethodNotAllowed, "method", fmt.Errorf("admission: method %s not allowed: POST an AdmissionReview", r.Method)}
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return nil, &httpError{http.StatusUnsupportedMediaType, "content_type", fmt.Errorf("admission: content type %q: want application/json", r.Header.Get("Content-Type"))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &httpError{http.StatusRequestEntityTooLarge, "too_large", fmt.Errorf("admission: body larger than %d bytes", h.cfg.MaxBodyBytes)}
		}
		return nil, &httpError{http.StatusBadRequest, "read", fmt.Errorf("admission: reading body: %w", err)}
	}
	review, err := DecodeReview(body)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "invalid", err}
	}
	return review, nil
}

// DecodeReview parses and validates an AdmissionReview v1 request body.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("admission: body is not an AdmissionReview: %w", err)
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("admission: got %s %s: want admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1])", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, errors.New("admission: AdmissionReview has no request")
	}
	if review.Request.UID == "" {
		return nil, errors.New("admission: AdmissionReview request has no uid")
	}
	return &review, nil
}

func allowed() *admissionv1.AdmissionResponse { return &admissionv1.AdmissionResponse{Allowed: true} }

// review decides one request and returns the response and the decision.
func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	if h.excluded[req.Namespace] || (req.Kind.Kind == "Namespace" && h.excluded[req.Name]) ||
		req.SubResource != "" || req.Operation == admissionv1.Delete || req.Operation == admissionv1.Connect || len(req.Object.Raw) == 0 {
		return allowed(), DecisionSkipped
	}
	obj, err := decodeObject(req)
	if err != nil {
		badRequests.WithLabelValues("object").Inc()
		h.cfg.Logger.Warn("admission object does not decode", "uid", req.UID, "kind", req.Kind.Kind, "err", err)
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
			Message: "kubeward: " + err.Error(),
		}}, DecisionError
	}
	set := policy.NewSet(false, append([]*policy.Object{obj}, h.cfg.Params...)...)

	bypass, bypassReason := h.bypass(req, obj)
	var denies, warns []string
	var violations []Violation
	audits := map[string][]string{}
	now := time.Now()
	for _, c := range h.cfg.Engine.Checkers() {
		start := time.Now()
		res, err := policy.RunChecker(ctx, c, obj, set, nil)
		if err != nil {
			h.cfg.Logger.Error("policy evaluation failed", "policy", c.Name(), "uid", req.UID, "err", err)
			evalErrors.WithLabelValues(c.Name()).Inc()
		}
		decision := DecisionAllow
		for _, r := range res {
			if r.Result != policy.Fail || r.Severity < h.cfg.MinSeverity {
				continue
			}
			for _, a := range h.actions(r) {
				text := fmt.Sprintf("%s/%s: %s", r.Policy, r.Rule, r.Message)
				if r.Field != "" {
					text += " (" + r.Field + ")"
				}
				switch a {
				case policy.ActionDeny:
					denies = append(denies, text)
					decision = DecisionDeny
				case policy.ActionWarn:
					warns = append(warns, text)
					if decision == DecisionAllow {
						decision = DecisionWarn
					}
				case policy.ActionAudit:
					audits[r.Policy] = append(audits[r.Policy], r.Rule)
					if decision == DecisionAllow {
						decision = DecisionAudit
					}
				}
				if a == policy.ActionDeny || a == policy.ActionAudit {
					violations = append(violations, Violation{Time: now, RequestUID: string(req.UID), Operation: string(req.Operation),
						User: req.UserInfo.Username, Action: a, Result: r})
				}
			}
		}
		policyDuration.WithLabelValues(c.Name(), decision, req.Kind.Kind, string(req.Operation)).Observe(time.Since(start).Seconds())
	}

	resp := allowed()
	decision := DecisionAllow
	switch {
	case len(denies) > 0 && bypass:
		decision = DecisionBypassed
		warns = append([]string{"kubeward emergency bypass: admitted despite " + fmt.Sprint(len(denies)) + " denial(s): " + bypassReason}, append(denies, warns...)...)
	case len(denies) > 0:
		decision = DecisionDeny
		resp = &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: "kubeward denied the request: " + strings.Join(denies, "; "),
		}}
	case len(audits) > 0:
		decision = DecisionAudit
	case len(warns) > 0:
		decision = DecisionWarn
	}
	resp.Warnings = clip(warns)
	if len(audits) > 0 {
		resp.AuditAnnotations = map[string]string{}
		for p, rules := range audits {
			resp.AuditAnnotations[auditKey(p)] = strings.Join(rules, ",")
		}
	}
	for i := range violations {
		violations[i].Decision = decision
	}
	h.publish(ctx, violations)
	return resp, decision
}

// auditKey builds an audit annotation key; the apiserver prefixes it with
// the webhook name, so it must be a valid qualified name part.
func auditKey(policyName string) string {
	b := []byte(policyName)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			b[i] = '-'
		}
	}
	k := "violation-" + string(b)
	if len(k) > 63 {
		k = k[:63]
	}
	return k
}

func clip(ws []string) []string {
	if len(ws) > maxWarnings {
		extra := len(ws) - maxWarnings + 1
		ws = append(ws[:maxWarnings-1:maxWarnings-1], fmt.Sprintf("… and %d more kubeward warnings", extra))
	}
	for i, w := range ws {
		if len(w) > maxWarningLen {
			ws[i] = w[:maxWarningLen-3] + "..."
		}
	}
	return ws
}

// actions returns the admission actions for a failed result.
func (h *Handler) actions(r policy.Result) []policy.Action {
	if len(r.Actions) > 0 {
		return r.Actions
	}
	if a, ok := h.cfg.Actions[r.Policy]; ok {
		return []policy.Action{a}
	}
	return []policy.Action{h.cfg.DefaultAction}
}

func (h *Handler) bypass(req *admissionv1.AdmissionRequest, obj *policy.Object) (bool, string) {
	if h.cfg.Bypass {
		return true, "global bypass switch is on"
	}
	reason, ok := obj.U.GetAnnotations()[AnnotationBypass]
	if !ok {
		return false, ""
	}
	for _, g := range req.UserInfo.Groups {
		if slices.Contains(h.cfg.BypassGroups, g) {
			return true, fmt.Sprintf("annotation %s by %s: %s", AnnotationBypass, req.UserInfo.Username, reason)
		}
	}
	return false, ""
}

func decodeObject(req *admissionv1.AdmissionRequest) (*policy.Object, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(req.Object.Raw); err != nil {
		return nil, fmt.Errorf("request object: %w", err)
	}
	if u.GetNamespace() == "" && req.Namespace != "" {
		u.SetNamespace(req.Namespace)
	}
	if u.GetName() == "" && req.Name != "" {
		u.SetName(req.Name)
	}
	obj, err := policy.NewObject(u, "admission:"+string(req.UID))
	if err != nil {
		return nil, err
	}
	pr := &policy.Request{UID: string(req.UID), Operation: string(req.Operation), SubResource: req.SubResource, User: req.UserInfo}
	if req.DryRun != nil {
		pr.DryRun = *req.DryRun
	}
	if len(req.OldObject.Raw) > 0 {
		old := &unstructured.Unstructured{}
		if err := old.UnmarshalJSON(req.OldObject.Raw); err != nil {
			return nil, fmt.Errorf("request oldObject: %w", err)
		}
		pr.OldObject = old
	}
	obj.Request = pr
	return obj, nil
}

func (h *Handler) publish(ctx context.Context, vs []Violation) {
	if h.cfg.Publisher == nil || len(vs) == 0 {
		return
	}
	msgs := make([]bus.Message, 0, len(vs))
	for _, v := range vs {
		body, err := json.Marshal(v)
		if err != nil {
			publishErrors.Inc()
			h.cfg.Logger.Error("encoding violation", "err", err)
			continue
		}
		ref := v.Result.Resource
		msgs = append(msgs, bus.Message{Topic: TopicViolations, Key: ref.Namespace + "/" + ref.Kind + "/" + ref.Name, Value: body,
			Headers: map[string]string{"kubeward-decision": v.Decision, "kubeward-policy": v.Result.Policy}})
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.PublishTimeout)
	defer cancel()
	if err := h.cfg.Publisher.Publish(ctx, msgs...); err != nil {
		publishErrors.Add(float64(len(msgs)))
		h.cfg.Logger.Error("publishing policy violations", "topic", TopicViolations, "count", len(msgs), "err", err)
	}
}
