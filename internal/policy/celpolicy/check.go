package celpolicy

import (
	"context"
	"fmt"
	"strings"

	celtypes "github.com/google/cel-go/common/types"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubeward/kubeward/internal/policy"
)

// maxMessageBytes bounds a messageExpression result, as the apiserver does.
const maxMessageBytes = celconfig.MaxEvaluatedMessageExpressionSizeBytes

// Check implements policy.Checker: for every binding that matches obj it
// evaluates the validations (once per parameter object) and emits one
// result per validation.
func (c *Compiled) Check(ctx context.Context, obj *policy.Object, set *policy.Set, emit func(policy.Result)) error {
	in := newInput(obj, set)
	if !matches(c.matchConst, in) {
		return nil
	}
	for _, b := range c.bindings {
		if b.match != nil && !matches(b.match, in) {
			continue
		}
		if c.paramKind == nil {
			c.evaluate(ctx, in, b, b.params, "", emit)
			continue
		}
		params, err := findParams(c.paramKind, b.paramRef, obj, set)
		if err != nil || len(params) == 0 {
			msg := fmt.Sprintf("binding %s: no %s %s parameter object found", b.name, c.paramKind.APIVersion, c.paramKind.Kind)
			if err != nil {
				msg = fmt.Sprintf("binding %s: %v", b.name, err)
			}
			deny := err != nil || (b.paramRef.ParameterNotFoundAction != nil && *b.paramRef.ParameterNotFoundAction == admissionregistrationv1.DenyAction)
			for _, r := range c.rules {
				res := policy.Result{Rule: r.name, Result: policy.Skip, Severity: r.severity, Message: msg}
				if deny {
					res.Result, res.Field, res.Remediation, res.Actions = policy.Fail, r.fieldPath, "Create the parameter object the binding's paramRef names.", b.actions
				}
				emit(res)
			}
			continue
		}
		for _, p := range params {
			c.evaluate(ctx, in, b, p.U, p.Ref.String(), emit)
		}
	}
	return nil
}

// input is the admission view of one object.
type input struct {
	obj       *policy.Object
	set       *policy.Set
	attr      *admission.VersionedAttributes
	gvr       metav1.GroupVersionResource
	namespace *corev1.Namespace
}

func newInput(obj *policy.Object, set *policy.Set) *input {
	gvk := obj.GVK
	gvr, _ := meta.UnsafeGuessKindToResource(gvk)
	op := admission.Create
	var old runtime.Object
	var ui user.Info = &user.DefaultInfo{}
	dryRun := false
	sub := ""
	if r := obj.Request; r != nil {
		op = admission.Operation(r.Operation)
		if r.OldObject != nil {
			old = r.OldObject
		}
		extra := map[string][]string{}
		for k, v := range r.User.Extra {
			extra[k] = v
		}
		ui = &user.DefaultInfo{Name: r.User.Username, UID: r.User.UID, Groups: r.User.Groups, Extra: extra}
		dryRun = r.DryRun
		sub = r.SubResource
	}
	ns := obj.Ref.Namespace
	attrs := admission.NewAttributesRecord(obj.U, old, gvk, ns, obj.Ref.Name, gvr, sub, op, nil, dryRun, ui)
	va := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(obj.U)}
	if old != nil {
		va.VersionedOldObject = admission.NewLazyObject(old)
	}
	in := &input{obj: obj, set: set, attr: va, gvr: metav1.GroupVersionResource(gvr)}
	if ns != "" {
		in.namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		for _, n := range set.Kind("Namespace") {
			if n.Ref.Name == ns {
				in.namespace.Labels = n.U.GetLabels()
				in.namespace.Annotations = n.U.GetAnnotations()
			}
		}
	}
	return in
}

// matches applies MatchResources the way the apiserver's policy matcher
// does (exact match policy): namespace and object selectors, excluded
// rules, then resource rules. Missing constraints or an empty rule list
// match every object (the apiserver requires resourceRules on a policy; a
// CELPolicy may leave them out).
func matches(mr *admissionregistrationv1.MatchResources, in *input) bool {
	if mr == nil {
		return true
	}
	if !selectorMatches(mr.NamespaceSelector, in.namespaceLabels()) && (in.obj.Ref.Namespace != "" || in.obj.GVK.Kind == "Namespace") {
		return false
	}
	if !selectorMatches(mr.ObjectSelector, in.obj.U.GetLabels()) {
		return false
	}
	for _, r := range mr.ExcludeResourceRules {
		if ruleMatches(r, in) {
			return false
		}
	}
	if len(mr.ResourceRules) == 0 {
		return true
	}
	for _, r := range mr.ResourceRules {
		if ruleMatches(r, in) {
			return true
		}
	}
	return false
}

func (in *input) namespaceLabels() map[string]string {
	if in.obj.GVK.Kind == "Namespace" {
		return in.obj.U.GetLabels()
	}
	if in.namespace != nil {
		return in.namespace.Labels
	}
	return nil
}

func selectorMatches(s *metav1.LabelSelector, l map[string]string) bool {
	if s == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(l))
}

func ruleMatches(r admissionregistrationv1.NamedRuleWithOperations, in *input) bool {
	m := rules.Matcher{Rule: r.RuleWithOperations, Attr: in.attr}
	if !m.Matches() {
		return false
	}
	if len(r.ResourceNames) == 0 {
		return true
	}
	for _, n := range r.ResourceNames {
		if n == in.obj.Ref.Name {
			return true
		}
	}
	return false
}

// findParams resolves a binding's paramRef against the evaluated set.
func findParams(kind *admissionregistrationv1.ParamKind, ref *admissionregistrationv1.ParamRef, obj *policy.Object, set *policy.Set) ([]*policy.Object, error) {
	var sel labels.Selector
	if ref.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(ref.Selector)
		if err != nil {
			return nil, fmt.Errorf("paramRef.selector: %w", err)
		}
		sel = s
	}
	var out []*policy.Object
	for _, p := range set.Kind(kind.Kind) {
		if p.Ref.APIVersion != kind.APIVersion {
			continue
		}
		ns := ref.Namespace
		if ns == "" {
			ns = obj.Ref.Namespace
		}
		if p.Ref.Namespace != "" && p.Ref.Namespace != ns {
			continue
		}
		if ref.Name != "" && p.Ref.Name != ref.Name {
			continue
		}
		if sel != nil && !sel.Matches(labels.Set(p.U.GetLabels())) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// evaluate runs the validations of c for one binding and parameter object.
func (c *Compiled) evaluate(ctx context.Context, in *input, b binding, params runtime.Object, paramName string, emit func(policy.Result)) {
	errorResult := func(msg string) {
		for _, r := range c.rules {
			res := policy.Result{Rule: r.name, Result: policy.Skip, Severity: r.severity, Message: "evaluation error (failurePolicy Ignore): " + msg}
			if c.failurePolicy == admissionregistrationv1.Fail {
				res = policy.Result{Rule: r.name, Result: policy.Fail, Severity: r.severity, Field: r.fieldPath,
					Message: "evaluation error (failurePolicy Fail): " + msg, Remediation: "Fix the policy expression or the object it failed on.", Actions: b.actions}
			}
			emit(res)
		}
	}
	if c.matchConds != nil {
		mr := c.matchConds.Match(ctx, in.attr, params, nil)
		if mr.Error != nil {
			errorResult(mr.Error.Error())
			return
		}
		if !mr.Matches {
			return
		}
	}
	req := plugincel.CreateAdmissionRequest(in.attr.Attributes, in.gvr, metav1.GroupVersionKind(in.obj.GVK))
	ns := plugincel.CreateNamespaceObject(in.namespace)
	evals, remaining, err := c.validations.ForInput(ctx, in.attr, req, plugincel.OptionalVariableBindings{VersionedParams: params}, ns, celconfig.RuntimeCELCostBudget)
	if err != nil {
		errorResult(err.Error())
		return
	}
	var msgs []plugincel.EvaluationResult
	var msgErr error
	if c.messages != nil {
		msgs, _, msgErr = c.messages.ForInput(ctx, in.attr, req, plugincel.OptionalVariableBindings{VersionedParams: params}, ns, remaining)
	}
	for i, ev := range evals {
		r := c.rules[i]
		switch {
		case ev.Error != nil:
			res := policy.Result{Rule: r.name, Result: policy.Skip, Severity: r.severity, Message: "evaluation error (failurePolicy Ignore): " + ev.Error.Error()}
			if c.failurePolicy == admissionregistrationv1.Fail {
				res = policy.Result{Rule: r.name, Result: policy.Fail, Severity: r.severity, Field: r.fieldPath, Message: "evaluation error: " + ev.Error.Error(),
					Remediation: "Fix the policy expression or the object it failed on.", Actions: b.actions}
			}
			emit(res)
		case ev.EvalResult == celtypes.True:
			emit(policy.Result{Rule: r.name, Result: policy.Pass, Severity: r.severity, Message: withParam("validation passed", paramName)})
		default:
			msg := ""
			if msgErr == nil && i < len(msgs) && msgs[i].Error == nil && msgs[i].EvalResult != nil {
				if s, ok := msgs[i].EvalResult.Value().(string); ok {
					s = strings.TrimSpace(s)
					if len(s) <= maxMessageBytes && !strings.Contains(s, "\n") {
						msg = s
					}
				}
			}
			if msg == "" {
				msg = strings.TrimSpace(c.validationMessage(i))
			}
			emit(policy.Result{Rule: r.name, Result: policy.Fail, Severity: r.severity, Field: r.fieldPath,
				Message: withParam(msg, paramName), Remediation: r.remediation, Actions: b.actions})
		}
	}
}

func (c *Compiled) validationMessage(i int) string {
	return c.rules[i].message
}

func withParam(msg, param string) string {
	if param == "" {
		return msg
	}
	return msg + " (params " + param + ")"
}
