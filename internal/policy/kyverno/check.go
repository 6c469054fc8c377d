package kyverno

import (
	"context"
	"strings"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/pss"
)

// Policy is one loaded Kyverno policy; it implements policy.Checker.
type Policy struct {
	name      string
	namespace string // for namespaced Policy objects
	severity  policy.Severity
	autogen   bool
	rules     []*rule
}

type rule struct {
	name           string
	match, exclude *match
	message        string
	action         policy.Action
	patterns       []any
	anyPattern     bool
	deny           *deny
	podSecurity    *podSecurity
}

type podSecurity struct {
	pack     *pss.Pack
	excluded map[string]bool
}

// Name implements policy.Checker.
func (p *Policy) Name() string { return p.name }

// Check implements policy.Checker.
func (p *Policy) Check(ctx context.Context, obj *policy.Object, set *policy.Set, emit func(policy.Result)) error {
	if p.namespace != "" && policy.EffectiveNamespace(obj) != p.namespace {
		return nil
	}
	for _, r := range p.rules {
		asPod := false
		var podLabels map[string]string
		if !r.match.matches(obj, false, nil) {
			// Auto-generation: Pod rules apply to pod templates.
			if !p.autogen || obj.Pod == nil || obj.GVK.Kind == "Pod" || !r.match.matchesPodKind() {
				continue
			}
			podLabels = obj.Pod.Meta.Labels
			if !r.match.matches(obj, true, podLabels) {
				continue
			}
			asPod = true
		}
		if r.exclude != nil && r.exclude.matches(obj, asPod, podLabels) {
			continue
		}
		if err := p.evaluate(ctx, r, obj, set, asPod, emit); err != nil {
			return err
		}
	}
	return nil
}

func (p *Policy) result(r *rule, outcome policy.Outcome, field, detail string) policy.Result {
	res := policy.Result{Rule: r.name, Result: outcome, Severity: p.severity, Field: field}
	msg := strings.TrimSpace(r.message)
	switch {
	case outcome == policy.Pass:
		msg = "rule passed"
	case msg == "":
		msg = detail
	case detail != "":
		msg += " (" + detail + ")"
	}
	res.Message = msg
	if outcome == policy.Fail {
		res.Actions = []policy.Action{r.action}
		res.Remediation = strings.TrimSpace(r.message)
	}
	return res
}

func (p *Policy) evaluate(ctx context.Context, r *rule, obj *policy.Object, set *policy.Set, asPod bool, emit func(policy.Result)) error {
	switch {
	case r.podSecurity != nil:
		return r.podSecurity.pack.Check(ctx, obj, set, func(res policy.Result) {
			if r.podSecurity.excluded[res.Control] {
				return
			}
			out := p.result(r, res.Result, res.Field, res.Message)
			out.Control = res.Control
			if res.Result == policy.Fail && out.Remediation == "" {
				out.Remediation = res.Remediation
			}
			emit(out)
		})
	case r.deny != nil:
		if r.deny.holds(obj) {
			emit(p.result(r, policy.Fail, "", "deny conditions hold"))
		} else {
			emit(p.result(r, policy.Pass, "", ""))
		}
		return nil
	}
	resource, base := any(obj.U.Object), ""
	if asPod {
		resource = map[string]any{"metadata": podSubtree(obj, "metadata"), "spec": podSubtree(obj, "spec")}
		base = strings.TrimSuffix(obj.Pod.SpecPath, ".spec")
	}
	var firstField, firstMsg string
	skippedAll := true
	for _, pat := range r.patterns {
		o, field, msg := matchPattern(resource, pat, base)
		switch o {
		case matched:
			emit(p.result(r, policy.Pass, "", ""))
			return nil
		case mismatched:
			skippedAll = false
			if firstField == "" {
				firstField, firstMsg = field, msg
			}
		}
	}
	if skippedAll {
		emit(p.result(r, policy.Skip, "", "conditional anchors do not apply"))
		return nil
	}
	emit(p.result(r, policy.Fail, firstField, "validation error: "+firstField+": "+firstMsg))
	return nil
}

// podSubtree returns the pod template's metadata or spec as found in the
// object (the raw form patterns are written against).
func podSubtree(obj *policy.Object, part string) any {
	cur := any(obj.U.Object)
	path := obj.Pod.SpecPath
	if part == "metadata" {
		path = obj.Pod.MetaPath
	}
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}
