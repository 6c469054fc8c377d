package kyverno

import (
	"fmt"
	"path"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeward/kubeward/internal/policy"
)

// match is a rule's match or exclude block: the filters of any (one must
// match) or all (every one must match).
type match struct {
	filters []filter
	all     bool
}

type filter struct {
	kinds, names, namespaces, operations []string
	selector                             labels.Selector
}

func parseMatch(v any, p string) (*match, error) {
	if v == nil {
		return nil, nil
	}
	m, err := asMap(v, p)
	if err != nil {
		return nil, err
	}
	if err := allowKeys(m, p, "any", "all", "resources"); err != nil {
		return nil, err
	}
	out := &match{}
	if r, ok := m["resources"]; ok {
		f, err := parseFilter(map[string]any{"resources": r}, p)
		if err != nil {
			return nil, err
		}
		out.filters = append(out.filters, f)
		out.all = true
	}
	for _, key := range []string{"any", "all"} {
		l, err := asList(m[key], p+"."+key)
		if err != nil {
			return nil, err
		}
		if len(l) > 0 && len(out.filters) > 0 {
			return nil, fmt.Errorf("%s: use one of resources, any, all", p)
		}
		for i, e := range l {
			em, err := asMap(e, fmt.Sprintf("%s.%s[%d]", p, key, i))
			if err != nil {
				return nil, err
			}
			f, err := parseFilter(em, fmt.Sprintf("%s.%s[%d]", p, key, i))
			if err != nil {
				return nil, err
			}
			out.filters = append(out.filters, f)
		}
		if len(l) > 0 {
			out.all = key == "all"
		}
	}
	if len(out.filters) == 0 {
		return nil, fmt.Errorf("%s: no resource filter", p)
	}
	return out, nil
}

func parseFilter(m map[string]any, p string) (filter, error) {
	if err := allowKeys(m, p, "resources"); err != nil {
		return filter{}, err
	}
	rp := p + ".resources"
	r, err := asMap(m["resources"], rp)
	if err != nil {
		return filter{}, err
	}
	if err := allowKeys(r, rp, "kinds", "names", "name", "namespaces", "selector", "operations"); err != nil {
		return filter{}, err
	}
	var f filter
	if f.kinds, err = asStrings(r["kinds"], rp+".kinds"); err != nil {
		return f, err
	}
	if f.names, err = asStrings(r["names"], rp+".names"); err != nil {
		return f, err
	}
	if n, err := asString(r["name"], rp+".name"); err != nil {
		return f, err
	} else if n != "" {
		f.names = append(f.names, n)
	}
	if f.namespaces, err = asStrings(r["namespaces"], rp+".namespaces"); err != nil {
		return f, err
	}
	if f.operations, err = asStrings(r["operations"], rp+".operations"); err != nil {
		return f, err
	}
	if s, ok := r["selector"]; ok {
		sm, err := asMap(s, rp+".selector")
		if err != nil {
			return f, err
		}
		var ls metav1.LabelSelector
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sm, &ls); err != nil {
			return f, fmt.Errorf("%s.selector: %w", rp, err)
		}
		if f.selector, err = metav1.LabelSelectorAsSelector(&ls); err != nil {
			return f, fmt.Errorf("%s.selector: %w", rp, err)
		}
	}
	return f, nil
}

// wildcard matches Kyverno's * and ? wildcards.
func wildcard(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	ok, err := path.Match(strings.ReplaceAll(pattern, "[", "\\["), s)
	if err == nil && ok {
		return true
	}
	// path.Match's * stops at '/'; Kyverno's does not.
	return wildcardSlash(pattern, s)
}

func wildcardSlash(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcardSlash(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

func anyWildcard(patterns []string, s string) bool {
	for _, p := range patterns {
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

// kindMatches matches Kind, Version/Kind or Group/Version/Kind patterns.
func kindMatches(pattern string, o *policy.Object) bool {
	parts := strings.Split(pattern, "/")
	gvk := o.GVK
	switch len(parts) {
	case 1:
		return wildcard(parts[0], gvk.Kind)
	case 2:
		return wildcard(parts[0], gvk.Version) && wildcard(parts[1], gvk.Kind)
	case 3:
		return wildcard(parts[0], gvk.Group) && wildcard(parts[1], gvk.Version) && wildcard(parts[2], gvk.Kind)
	}
	return false
}

// matches reports whether the filter selects o evaluated as kind (the
// object's own kind, or Pod for an auto-generated pod template match).
func (f filter) matches(o *policy.Object, asPod bool, podLabels map[string]string) bool {
	if len(f.kinds) > 0 {
		ok := false
		for _, k := range f.kinds {
			if asPod {
				ok = ok || k == "Pod" || k == "v1/Pod" || k == "*"
			} else {
				ok = ok || kindMatches(k, o)
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.names) > 0 && !anyWildcard(f.names, o.Ref.Name) {
		return false
	}
	if len(f.namespaces) > 0 && !anyWildcard(f.namespaces, policy.EffectiveNamespace(o)) {
		return false
	}
	if len(f.operations) > 0 {
		op := "CREATE"
		if o.Request != nil {
			op = o.Request.Operation
		}
		if !anyWildcard(f.operations, op) {
			return false
		}
	}
	if f.selector != nil {
		l := o.U.GetLabels()
		if asPod {
			l = podLabels
		}
		if !f.selector.Matches(labels.Set(l)) {
			return false
		}
	}
	return true
}

func (m *match) matches(o *policy.Object, asPod bool, podLabels map[string]string) bool {
	for _, f := range m.filters {
		ok := f.matches(o, asPod, podLabels)
		if m.all && !ok {
			return false
		}
		if !m.all && ok {
			return true
		}
	}
	return m.all
}

// matchesPodKind reports whether the match selects Pods at all.
func (m *match) matchesPodKind() bool {
	for _, f := range m.filters {
		for _, k := range f.kinds {
			if k == "Pod" || k == "v1/Pod" {
				return true
			}
		}
	}
	return false
}
