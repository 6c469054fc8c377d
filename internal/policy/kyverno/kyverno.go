// Package kyverno loads a documented subset of Kyverno validate policies
// (kyverno.io/v1 ClusterPolicy and Policy) and evaluates them with
// kubeward's engine. Anything outside the subset is refused at load time
// with the path of the offending field: a policy is never half-applied.
//
// Supported:
//   - spec: rules, validationFailureAction (Enforce → Deny, Audit → Audit),
//     background, admission, failurePolicy, webhookTimeoutSeconds,
//     schemaValidation, emitWarning (accepted, no effect in a scan);
//     applyRules All.
//   - metadata.annotations policies.kyverno.io/severity (default medium).
//   - rule.match / rule.exclude: resources, any, all of resource filters
//     with kinds (Kind, Version/Kind, Group/Version/Kind, wildcards), names,
//     name, namespaces (wildcards), selector and operations.
//   - Pod rules apply to the pod templates of workload controllers
//     (Kyverno's auto-generation; the annotation
//     pod-policies.kyverno.io/autogen-controllers: none turns it off).
//   - rule.validate: message, failureAction, allowExistingViolations, and
//     one of pattern, anyPattern, deny, podSecurity.
//   - pattern / anyPattern: maps, single-element list patterns applied to
//     every element, the anchors (key) conditional, =(key) equality and
//     X(key) negation, and scalar expressions with * and ? wildcards, |
//     (or), & (and), ! (not), >, >=, <, <= (numbers and quantities) and
//     N-M ranges.
//   - deny.conditions (any / all, or a plain list meaning all) with keys and
//     values that are literals or {{ request.object.PATH }},
//     {{ request.oldObject.PATH }}, {{ request.operation }} (PATH a dotted
//     path of plain or quoted names), and the operators Equals, NotEquals,
//     In, AnyIn, AllIn, NotIn, AnyNotIn, AllNotIn, GreaterThan,
//     GreaterThanOrEquals, LessThan, LessThanOrEquals.
//   - podSecurity: level, version, and exclude entries that name a
//     controlName (all images).
//
// Refused: mutate, generate, verifyImages, validate.foreach, validate.cel,
// validate.manifests, validate.assert, preconditions, context, subjects,
// roles, clusterRoles, the ^() <() +() anchors, other JMESPath
// expressions, podSecurity exclusions limited to images or fields.
package kyverno

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/pss"
)

// Annotations read from policies.
const (
	AnnotationSeverity = "policies.kyverno.io/severity"
	AnnotationAutogen  = "pod-policies.kyverno.io/autogen-controllers"
)

// MaxPolicyBytes bounds one policy file.
const MaxPolicyBytes = 8 << 20

var loadErrors = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_kyverno_load_errors_total",
	Help: "Kyverno policy documents refused by the loader.",
})

// ErrUnsupported is wrapped by every refusal of a Kyverno feature outside
// the supported subset.
var ErrUnsupported = errors.New("not supported by kubeward's Kyverno loader")

// IsPolicyDocument reports whether a document's apiVersion and kind are a
// Kyverno policy this package reads.
func IsPolicyDocument(apiVersion, kind string) bool {
	return strings.HasPrefix(apiVersion, "kyverno.io/") && (kind == "ClusterPolicy" || kind == "Policy")
}

// Load reads multi-document YAML or JSON Kyverno policies.
func Load(r io.Reader, source string) ([]*Policy, error) {
	ps, err := load(r, source)
	if err != nil {
		loadErrors.Inc()
	}
	return ps, err
}

func load(r io.Reader, source string) ([]*Policy, error) {
	lr := &io.LimitedReader{R: r, N: MaxPolicyBytes + 1}
	yr := utilyaml.NewYAMLReader(bufio.NewReader(lr))
	var out []*Policy
	for doc := 1; ; doc++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading document %d: %w", source, doc, err)
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("%s: policy file larger than %d bytes", source, MaxPolicyBytes)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: invalid YAML: %w", source, doc, err)
		}
		js = bytes.TrimSpace(js)
		if len(js) == 0 || bytes.Equal(js, []byte("null")) {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(js, &m); err != nil {
			return nil, fmt.Errorf("%s#%d: document is not a mapping: %w", source, doc, err)
		}
		p, err := parsePolicy(m)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", source, doc, err)
		}
		out = append(out, p)
	}
}

// allowKeys refuses keys of m outside allowed, naming the path.
func allowKeys(m map[string]any, path string, allowed ...string) error {
	var bad []string
	for k := range m {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s.%s: %w (supported here: %s)", path, bad[0], ErrUnsupported, strings.Join(allowed, ", "))
}

func asMap(v any, path string) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %T", path, v)
	}
	return m, nil
}

func asList(v any, path string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %T", path, v)
	}
	return l, nil
}

func asString(v any, path string) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %T", path, v)
	}
	return s, nil
}

func asStrings(v any, path string) ([]string, error) {
	l, err := asList(v, path)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l))
	for i, e := range l {
		if out[i], err = asString(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseAction(s, path string) (policy.Action, error) {
	switch strings.ToLower(s) {
	case "", "audit":
		return policy.ActionAudit, nil
	case "enforce":
		return policy.ActionDeny, nil
	}
	return "", fmt.Errorf("%s %q: want Enforce or Audit", path, s)
}

func parsePolicy(m map[string]any) (*Policy, error) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if !IsPolicyDocument(apiVersion, kind) {
		return nil, fmt.Errorf("%s %s is not a Kyverno ClusterPolicy or Policy", apiVersion, kind)
	}
	meta, err := asMap(m["metadata"], "metadata")
	if err != nil {
		return nil, err
	}
	p := &Policy{severity: policy.SeverityMedium}
	if p.name, err = asString(meta["name"], "metadata.name"); err != nil || p.name == "" {
		return nil, fmt.Errorf("metadata.name is required")
	}
	if kind == "Policy" {
		if p.namespace, err = asString(meta["namespace"], "metadata.namespace"); err != nil {
			return nil, err
		}
		if p.namespace == "" {
			p.namespace = "default"
		}
	}
	ann, err := asMap(meta["annotations"], "metadata.annotations")
	if err != nil {
		return nil, err
	}
	if s, ok := ann[AnnotationSeverity].(string); ok {
		if p.severity, err = policy.ParseSeverity(s); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", AnnotationSeverity, err)
		}
	}
	p.autogen = ann[AnnotationAutogen] != "none"
	spec, err := asMap(m["spec"], "spec")
	if err != nil {
		return nil, err
	}
	if err := allowKeys(spec, "spec", "rules", "validationFailureAction", "background", "admission", "failurePolicy",
		"webhookTimeoutSeconds", "schemaValidation", "emitWarning", "applyRules", "validationFailureActionOverrides"); err != nil {
		return nil, err
	}
	if ar, _ := spec["applyRules"].(string); ar != "" && ar != "All" {
		return nil, fmt.Errorf("spec.applyRules %q: %w (only All)", ar, ErrUnsupported)
	}
	if spec["validationFailureActionOverrides"] != nil {
		return nil, fmt.Errorf("spec.validationFailureActionOverrides: %w", ErrUnsupported)
	}
	actionName, err := asString(spec["validationFailureAction"], "spec.validationFailureAction")
	if err != nil {
		return nil, err
	}
	action, err := parseAction(actionName, "spec.validationFailureAction")
	if err != nil {
		return nil, err
	}
	rules, err := asList(spec["rules"], "spec.rules")
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("policy %q: spec.rules is empty", p.name)
	}
	for i, r := range rules {
		path := fmt.Sprintf("spec.rules[%d]", i)
		rm, err := asMap(r, path)
		if err != nil {
			return nil, err
		}
		rule, err := parseRule(rm, path, action)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", p.name, err)
		}
		p.rules = append(p.rules, rule)
	}
	return p, nil
}

func parseRule(m map[string]any, path string, action policy.Action) (*rule, error) {
	if err := allowKeys(m, path, "name", "match", "exclude", "validate", "skipBackgroundRequests"); err != nil {
		return nil, err
	}
	r := &rule{action: action}
	var err error
	if r.name, err = asString(m["name"], path+".name"); err != nil || r.name == "" {
		return nil, fmt.Errorf("%s.name is required", path)
	}
	if r.match, err = parseMatch(m["match"], path+".match"); err != nil {
		return nil, err
	}
	if r.match == nil {
		return nil, fmt.Errorf("%s.match is required", path)
	}
	if m["exclude"] != nil {
		if r.exclude, err = parseMatch(m["exclude"], path+".exclude"); err != nil {
			return nil, err
		}
	}
	v, err := asMap(m["validate"], path+".validate")
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("%s: only validate rules are supported: %w", path, ErrUnsupported)
	}
	vp := path + ".validate"
	if err := allowKeys(v, vp, "message", "failureAction", "allowExistingViolations", "pattern", "anyPattern", "deny", "podSecurity"); err != nil {
		return nil, err
	}
	if r.message, err = asString(v["message"], vp+".message"); err != nil {
		return nil, err
	}
	if fa, err := asString(v["failureAction"], vp+".failureAction"); err != nil {
		return nil, err
	} else if fa != "" {
		if r.action, err = parseAction(fa, vp+".failureAction"); err != nil {
			return nil, err
		}
	}
	n := 0
	if p, ok := v["pattern"]; ok {
		n++
		if err := checkPattern(p, vp+".pattern"); err != nil {
			return nil, err
		}
		r.patterns = []any{p}
	}
	if ap, ok := v["anyPattern"]; ok {
		n++
		l, err := asList(ap, vp+".anyPattern")
		if err != nil {
			return nil, err
		}
		for i, p := range l {
			if err := checkPattern(p, fmt.Sprintf("%s.anyPattern[%d]", vp, i)); err != nil {
				return nil, err
			}
		}
		r.patterns, r.anyPattern = l, true
	}
	if d, ok := v["deny"]; ok {
		n++
		if r.deny, err = parseDeny(d, vp+".deny"); err != nil {
			return nil, err
		}
	}
	if ps, ok := v["podSecurity"]; ok {
		n++
		if r.podSecurity, err = parsePodSecurity(ps, vp+".podSecurity"); err != nil {
			return nil, err
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%s: want exactly one of pattern, anyPattern, deny, podSecurity (got %d)", vp, n)
	}
	return r, nil
}

// podSecurity controls by Kyverno control name.
var controlIDs = map[string][]string{
	"Privileged Containers":         {"privileged"},
	"Host Namespaces":               {"hostNamespaces"},
	"HostPath Volumes":              {"hostPathVolumes"},
	"Host Ports":                    {"hostPorts"},
	"Capabilities":                  {"capabilities_baseline", "capabilities_restricted"},
	"AppArmor":                      {"appArmorProfile"},
	"SELinux":                       {"seLinuxOptions"},
	"/proc Mount Type":              {"procMount"},
	"Seccomp":                       {"seccompProfile_baseline", "seccompProfile_restricted"},
	"Sysctls":                       {"sysctls"},
	"HostProcess":                   {"windowsHostProcess"},
	"Host Probes / Lifecycle Hooks": {"hostProbesAndhostLifecycle"},
	"Privilege Escalation":          {"allowPrivilegeEscalation"},
	"Running as Non-root":           {"runAsNonRoot"},
	"Running as Non-root user":      {"runAsUser"},
	"Volume Types":                  {"restrictedVolumes"},
}

func parsePodSecurity(v any, path string) (*podSecurity, error) {
	m, err := asMap(v, path)
	if err != nil {
		return nil, err
	}
	if err := allowKeys(m, path, "level", "version", "exclude"); err != nil {
		return nil, err
	}
	level, err := asString(m["level"], path+".level")
	if err != nil {
		return nil, err
	}
	version, err := asString(m["version"], path+".version")
	if err != nil {
		return nil, err
	}
	pack, err := pss.New(level, version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ps := &podSecurity{pack: pack, excluded: map[string]bool{}}
	ex, err := asList(m["exclude"], path+".exclude")
	if err != nil {
		return nil, err
	}
	for i, e := range ex {
		ep := fmt.Sprintf("%s.exclude[%d]", path, i)
		em, err := asMap(e, ep)
		if err != nil {
			return nil, err
		}
		if err := allowKeys(em, ep, "controlName", "images"); err != nil {
			return nil, err
		}
		name, err := asString(em["controlName"], ep+".controlName")
		if err != nil {
			return nil, err
		}
		ids, ok := controlIDs[name]
		if !ok {
			return nil, fmt.Errorf("%s.controlName %q: unknown control", ep, name)
		}
		images, err := asStrings(em["images"], ep+".images")
		if err != nil {
			return nil, err
		}
		if len(images) > 0 && (len(images) != 1 || images[0] != "*") {
			return nil, fmt.Errorf("%s.images: exclusions limited to some images: %w (use [\"*\"])", ep, ErrUnsupported)
		}
		for _, id := range ids {
			ps.excluded[id] = true
		}
	}
	return ps, nil
}
