package celpolicy

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"

	celgo "github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"

	"github.com/kubeward/kubeward/internal/policy"
)

// Compiled is one compiled policy; it implements policy.Checker.
type Compiled struct {
	name          string
	matchConst    *admissionregistrationv1.MatchResources
	paramKind     *admissionregistrationv1.ParamKind
	failurePolicy admissionregistrationv1.FailurePolicyType
	rules         []ruleMeta
	validations   plugincel.ConditionEvaluator
	// messages holds the messageExpressions aligned with validations (a
	// placeholder where a validation has none); nil when no validation
	// has one.
	messages   plugincel.ConditionEvaluator
	matchConds matchconditions.Matcher
	bindings   []binding
}

type ruleMeta struct {
	// message is the validation's static message, else "failed
	// expression: EXPR" as the apiserver words it.
	name, fieldPath, remediation, message string
	severity                              policy.Severity
}

type binding struct {
	name     string
	match    *admissionregistrationv1.MatchResources
	paramRef *admissionregistrationv1.ParamRef
	// params are inline parameters (CELPolicy); nil for bindings.
	params  runtime.Object
	actions []policy.Action
}

type validationCondition struct {
	admissionregistrationv1.Validation
}

func (v *validationCondition) GetExpression() string      { return v.Expression }
func (v *validationCondition) ReturnTypes() []*celgo.Type { return []*celgo.Type{celgo.BoolType} }

type messageCondition struct{ expr string }

func (m *messageCondition) GetExpression() string      { return m.expr }
func (m *messageCondition) ReturnTypes() []*celgo.Type { return []*celgo.Type{celgo.StringType} }

type variable struct {
	admissionregistrationv1.Variable
}

func (v *variable) GetExpression() string      { return v.Expression }
func (v *variable) ReturnTypes() []*celgo.Type { return []*celgo.Type{celgo.AnyType, celgo.DynType} }
func (v *variable) GetName() string            { return v.Name }

// Compile compiles every policy of b. Expressions are checked with the
// environment the apiserver uses for new objects, so a policy that the
// apiserver would refuse is refused here, with every compile error listed.
func Compile(b *Bundle) ([]*Compiled, error) {
	byName := map[string]*Compiled{}
	var out []*Compiled
	var errs []error
	add := func(c *Compiled, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		if _, dup := byName[c.name]; dup {
			errs = append(errs, fmt.Errorf("policy %q is defined twice: policy names must be unique", c.name))
			return
		}
		byName[c.name] = c
		out = append(out, c)
	}
	// Policies compile independently: spread them over the CPUs and
	// collect the results in input order.
	type compiled struct {
		c   *Compiled
		err error
	}
	results := make([]compiled, len(b.Policies)+len(b.CELPolicies))
	if _, err := sharedEnv(plugincel.OptionalVariableDeclarations{}); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(goruntime.GOMAXPROCS(0), len(results)); w++ {
		wg.Go(func() {
			for i := range next {
				if i < len(b.Policies) {
					results[i].c, results[i].err = compileVAP(b.Policies[i])
				} else {
					results[i].c, results[i].err = compileCELPolicy(b.CELPolicies[i-len(b.Policies)])
				}
			}
		})
	}
	for i := range results {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range results {
		add(r.c, r.err)
	}
	bound := map[string]bool{}
	for _, bd := range b.Bindings {
		c, ok := byName[bd.Spec.PolicyName]
		if !ok {
			errs = append(errs, fmt.Errorf("binding %q references policy %q, which is not loaded: load the policy with the binding", bd.Name, bd.Spec.PolicyName))
			continue
		}
		if c.paramKind == nil && bd.Spec.ParamRef != nil {
			errs = append(errs, fmt.Errorf("binding %q sets paramRef but policy %q has no paramKind", bd.Name, c.name))
			continue
		}
		if c.paramKind != nil && bd.Spec.ParamRef == nil {
			errs = append(errs, fmt.Errorf("binding %q has no paramRef but policy %q has paramKind %s %s: add spec.paramRef", bd.Name, c.name, c.paramKind.APIVersion, c.paramKind.Kind))
			continue
		}
		actions, err := convertActions(bd.Spec.ValidationActions)
		if err != nil {
			errs = append(errs, fmt.Errorf("binding %q: %w", bd.Name, err))
			continue
		}
		if len(actions) == 0 {
			errs = append(errs, fmt.Errorf("binding %q has no validationActions: set at least one of Deny, Warn, Audit", bd.Name))
			continue
		}
		c.bindings = append(c.bindings, binding{name: bd.Name, match: bd.Spec.MatchResources, paramRef: bd.Spec.ParamRef, actions: actions})
		bound[c.name] = true
	}
	for _, p := range b.Policies {
		c := byName[p.Name]
		if c == nil || bound[p.Name] {
			continue
		}
		if c.paramKind != nil {
			errs = append(errs, fmt.Errorf("policy %q has paramKind %s %s but no binding: load a ValidatingAdmissionPolicyBinding with paramRef", c.name, c.paramKind.APIVersion, c.paramKind.Kind))
			continue
		}
		c.bindings = []binding{{name: "", actions: []policy.Action{policy.ActionDeny}}}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func convertActions(in []admissionregistrationv1.ValidationAction) ([]policy.Action, error) {
	out := make([]policy.Action, 0, len(in))
	for _, a := range in {
		switch a {
		case admissionregistrationv1.Deny, admissionregistrationv1.Warn, admissionregistrationv1.Audit:
			out = append(out, policy.Action(a))
		default:
			return nil, fmt.Errorf("validation action %q: want Deny, Warn or Audit", a)
		}
	}
	return out, nil
}

type source struct {
	name             string
	matchConstraints *admissionregistrationv1.MatchResources
	matchConditions  []admissionregistrationv1.MatchCondition
	variables        []admissionregistrationv1.Variable
	validations      []admissionregistrationv1.Validation
	paramKind        *admissionregistrationv1.ParamKind
	hasParams        bool
	failurePolicy    *admissionregistrationv1.FailurePolicyType
	rules            []ruleMeta
}

func compileVAP(p *admissionregistrationv1.ValidatingAdmissionPolicy) (*Compiled, error) {
	if p.Name == "" {
		return nil, errors.New("ValidatingAdmissionPolicy without metadata.name")
	}
	sev := policy.SeverityHigh
	if s, ok := p.Annotations[AnnotationSeverity]; ok {
		v, err := policy.ParseSeverity(s)
		if err != nil {
			return nil, fmt.Errorf("policy %q annotation %s: %w", p.Name, AnnotationSeverity, err)
		}
		sev = v
	}
	rules := make([]ruleMeta, len(p.Spec.Validations))
	for i := range p.Spec.Validations {
		rules[i] = ruleMeta{name: fmt.Sprintf("validations[%d]", i), severity: sev, remediation: p.Annotations[AnnotationRemediation]}
	}
	return compile(source{
		name: p.Name, matchConstraints: p.Spec.MatchConstraints, matchConditions: p.Spec.MatchConditions,
		variables: p.Spec.Variables, validations: p.Spec.Validations, paramKind: p.Spec.ParamKind,
		hasParams: p.Spec.ParamKind != nil, failurePolicy: p.Spec.FailurePolicy, rules: rules,
	})
}

func compileCELPolicy(p *CELPolicy) (*Compiled, error) {
	if p.Name == "" {
		return nil, errors.New("CELPolicy without metadata.name")
	}
	sev := policy.SeverityHigh
	if p.Spec.Severity != "" {
		v, err := policy.ParseSeverity(p.Spec.Severity)
		if err != nil {
			return nil, fmt.Errorf("CELPolicy %q spec.severity: %w", p.Name, err)
		}
		sev = v
	}
	vals := make([]admissionregistrationv1.Validation, len(p.Spec.Validations))
	rules := make([]ruleMeta, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		vals[i] = v.Validation
		r := ruleMeta{name: v.Name, fieldPath: strings.TrimPrefix(v.FieldPath, "."), severity: sev, remediation: p.Spec.Remediation}
		if r.name == "" {
			r.name = fmt.Sprintf("validations[%d]", i)
		}
		if v.Severity != "" {
			s, err := policy.ParseSeverity(v.Severity)
			if err != nil {
				return nil, fmt.Errorf("CELPolicy %q validations[%d].severity: %w", p.Name, i, err)
			}
			r.severity = s
		}
		if v.Remediation != "" {
			r.remediation = v.Remediation
		}
		rules[i] = r
	}
	c, err := compile(source{
		name: p.Name, matchConstraints: p.Spec.MatchConstraints, matchConditions: p.Spec.MatchConditions,
		variables: p.Spec.Variables, validations: vals, hasParams: p.Spec.Params != nil,
		failurePolicy: p.Spec.FailurePolicy, rules: rules,
	})
	if err != nil {
		return nil, err
	}
	actions := []policy.Action{policy.ActionDeny}
	if len(p.Spec.ValidationActions) > 0 {
		if actions, err = convertActions(p.Spec.ValidationActions); err != nil {
			return nil, fmt.Errorf("CELPolicy %q: %w", p.Name, err)
		}
	}
	var params runtime.Object
	if p.Spec.Params != nil {
		params = &unstructured.Unstructured{Object: p.Spec.Params}
	}
	c.bindings = []binding{{actions: actions, params: params}}
	return c, nil
}

func compile(s source) (*Compiled, error) {
	if len(s.validations) == 0 {
		return nil, fmt.Errorf("policy %q has no validations", s.name)
	}
	fp := admissionregistrationv1.Fail
	if s.failurePolicy != nil {
		switch *s.failurePolicy {
		case admissionregistrationv1.Fail, admissionregistrationv1.Ignore:
			fp = *s.failurePolicy
		default:
			return nil, fmt.Errorf("policy %q failurePolicy %q: want Fail or Ignore", s.name, *s.failurePolicy)
		}
	}
	for i, v := range s.validations {
		s.rules[i].message = strings.TrimSpace(v.Message)
		if s.rules[i].message == "" {
			s.rules[i].message = "failed expression: " + strings.TrimSpace(v.Expression)
		}
	}
	// The declarations the apiserver's ValidatingAdmissionPolicy plugin
	// compiles with: the authorizer for validations, variables and
	// matchConditions, not for messageExpressions.
	opts := plugincel.OptionalVariableDeclarations{HasParams: s.hasParams, HasAuthorizer: true}
	msgOpts := plugincel.OptionalVariableDeclarations{HasParams: s.hasParams}
	var errs []error
	comp := newExprCompiler(len(s.variables) > 0)
	for i := range s.variables {
		res := comp.compileVariable(&variable{s.variables[i]}, opts)
		if res.Error != nil {
			errs = append(errs, fmt.Errorf("variables[%d] (%s): %v", i, s.variables[i].Name, res.Error))
		}
	}
	vals := make([]plugincel.ExpressionAccessor, len(s.validations))
	// msgs is aligned with vals; a validation without messageExpression
	// has a nil placeholder, which evaluates to no message.
	msgs := make([]plugincel.ExpressionAccessor, len(s.validations))
	for i := range s.validations {
		v := s.validations[i]
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, fmt.Errorf("validations[%d]: expression is empty", i))
		}
		vals[i] = &validationCondition{v}
		if strings.TrimSpace(v.MessageExpression) != "" {
			msgs[i] = &messageCondition{expr: v.MessageExpression}
		}
	}
	c := &Compiled{
		name: s.name, matchConst: s.matchConstraints, paramKind: s.paramKind, failurePolicy: fp, rules: s.rules,
		validations: comp.compileCondition(vals, opts),
	}
	for i, e := range c.validations.CompilationErrors() {
		errs = append(errs, fmt.Errorf("validation %d: %w", i, e))
	}
	if slices.ContainsFunc(msgs, func(m plugincel.ExpressionAccessor) bool { return m != nil }) {
		c.messages = comp.compileCondition(msgs, msgOpts)
		for _, e := range c.messages.CompilationErrors() {
			errs = append(errs, fmt.Errorf("messageExpression: %w", e))
		}
	}
	if len(s.matchConditions) > 0 {
		acc := make([]plugincel.ExpressionAccessor, len(s.matchConditions))
		for i := range s.matchConditions {
			acc[i] = (*matchconditions.MatchCondition)(&s.matchConditions[i])
		}
		cond := comp.compileCondition(acc, opts)
		for _, e := range cond.CompilationErrors() {
			errs = append(errs, fmt.Errorf("matchConditions: %w", e))
		}
		c.matchConds = matchconditions.NewMatcher(cond, &fp, "policy", "validate", s.name)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("policy %q does not compile: %w", s.name, errors.Join(errs...))
	}
	return c, nil
}

// Name implements policy.Checker.
func (c *Compiled) Name() string { return c.name }
