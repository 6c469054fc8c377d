// Package pss evaluates the Kubernetes Pod Security Standards (baseline and
// restricted) with k8s.io/pod-security-admission's check registry as the
// source of truth. Each result carries the upstream check ID as its
// control (privileged, hostNamespaces, runAsNonRoot, capabilities_restricted…)
// and a field path located by re-running the failing upstream check on one
// container or volume at a time.
package pss

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	psa "k8s.io/pod-security-admission/policy"

	"github.com/kubeward/kubeward/internal/policy"
)

// Pack names.
const (
	BaselineName   = "pss-baseline"
	RestrictedName = "pss-restricted"
)

// check is one upstream check resolved for a level and version.
type check struct {
	id  string
	fn  psa.CheckPodFn
	doc controlDoc
	// passMessage is built once per pack.
	passMessage string
}

// Pack evaluates one Pod Security Standards level at one version.
type Pack struct {
	name   string
	level  api.Level
	ver    api.Version
	checks []check
}

// New returns the pack for level (baseline or restricted) at version
// ("latest" or "v1.N"). The restricted level includes every baseline check
// that no restricted check overrides, exactly as the upstream registry
// composes it.
func New(level, version string) (*Pack, error) {
	lvl, err := api.ParseLevel(level)
	if err != nil || lvl == api.LevelPrivileged {
		return nil, fmt.Errorf("pod security level %q: want baseline or restricted", level)
	}
	if version == "" {
		version = "latest"
	}
	ver, err := api.ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("pod security version %q: want latest or v1.N: %w", version, err)
	}
	p := &Pack{level: lvl, ver: ver, checks: resolve(psa.DefaultChecks(), lvl, ver)}
	p.name = BaselineName
	if lvl == api.LevelRestricted {
		p.name = RestrictedName
	}
	return p, nil
}

// Name implements policy.Checker.
func (p *Pack) Name() string { return p.name }

// Level returns the pack's level and version.
func (p *Pack) Level() api.LevelVersion { return api.LevelVersion{Level: p.level, Version: p.ver} }

// Controls returns the IDs of the checks the pack runs, in evaluation order.
func (p *Pack) Controls() []string {
	out := make([]string, len(p.checks))
	for i, c := range p.checks {
		out[i] = c.id
	}
	return out
}

// resolve picks, for each check applying at level, the version of it in
// force at ver, and drops baseline checks overridden by a restricted one.
// It mirrors the composition of psa.NewEvaluator (the registry test in this
// package compares the two on every fixture).
func resolve(all []psa.Check, level api.Level, ver api.Version) []check {
	pick := func(c psa.Check) (psa.VersionedCheck, bool) {
		var found psa.VersionedCheck
		ok := false
		for _, vc := range c.Versions {
			if ver.Latest() || !ver.Older(vc.MinimumVersion) {
				found, ok = vc, true
			}
		}
		return found, ok
	}
	overridden := map[psa.CheckID]bool{}
	if level == api.LevelRestricted {
		for _, c := range all {
			if c.Level != api.LevelRestricted {
				continue
			}
			if vc, ok := pick(c); ok {
				for _, id := range vc.OverrideCheckIDs {
					overridden[id] = true
				}
			}
		}
	}
	var baseline, restricted []check
	for _, c := range all {
		if c.Level == api.LevelRestricted && level != api.LevelRestricted {
			continue
		}
		if overridden[c.ID] {
			continue
		}
		vc, ok := pick(c)
		if !ok {
			continue
		}
		ch := check{id: string(c.ID), fn: vc.CheckPod, doc: docFor(string(c.ID), c.Level)}
		ch.passMessage = ch.doc.title + ": satisfied"
		if c.Level == api.LevelBaseline {
			baseline = append(baseline, ch)
		} else {
			restricted = append(restricted, ch)
		}
	}
	sortChecks(baseline)
	sortChecks(restricted)
	return append(baseline, restricted...)
}

func sortChecks(cs []check) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].id < cs[j-1].id; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// Check implements policy.Checker.
func (p *Pack) Check(_ context.Context, obj *policy.Object, _ *policy.Set, emit func(policy.Result)) error {
	pt := obj.Pod
	if pt == nil {
		return nil
	}
	for _, c := range p.checks {
		res := c.fn(pt.Meta, pt.Spec)
		if res.Allowed {
			emit(policy.Result{Rule: c.id, Control: c.id, Result: policy.Pass, Severity: c.doc.severity,
				Message: c.passMessage})
			continue
		}
		for _, loc := range locate(c, pt, res) {
			emit(policy.Result{
				Rule: c.id, Control: c.id, Result: policy.Fail, Severity: c.doc.severity,
				Message:     fmt.Sprintf("%s: %s (%s)", c.doc.title, loc.detail, p.Level()),
				Field:       loc.field,
				Remediation: c.doc.remediation,
			})
		}
	}
	return nil
}

type location struct {
	field, detail string
}

func detailOf(r psa.CheckResult) string {
	if r.ForbiddenDetail == "" {
		return r.ForbiddenReason
	}
	return r.ForbiddenReason + ": " + r.ForbiddenDetail
}

// locate finds where a failed check fails: it re-runs the upstream check
// on the pod with a single container (or a single volume) so that each
// offending container or volume gets its own result and field path. When
// the failure comes from pod-level fields the pod-level path is used.
func locate(c check, pt *policy.PodTemplate, whole psa.CheckResult) []location {
	spec := pt.Spec
	var out []location
	one := *spec
	one.InitContainers, one.Containers, one.EphemeralContainers = nil, nil, nil
	podOnly := c.fn(pt.Meta, &one)
	if !podOnly.Allowed {
		// Pod-level fields fail on their own. When the pod passes without
		// its volumes, point at each offending volume; else at the
		// pod-level field.
		noVolumes := one
		noVolumes.Volumes = nil
		if len(spec.Volumes) > 0 && c.fn(pt.Meta, &noVolumes).Allowed {
			vs := noVolumes
			for i := range spec.Volumes {
				vs.Volumes = spec.Volumes[i : i+1]
				if r := c.fn(pt.Meta, &vs); !r.Allowed {
					out = append(out, location{field: pt.SpecPath + ".volumes[" + strconv.Itoa(i) + "]" + c.doc.volumeField, detail: detailOf(r)})
				}
			}
		}
		if len(out) == 0 {
			out = append(out, location{field: podField(c.doc, pt), detail: detailOf(podOnly)})
		}
	}
	one.Volumes = spec.Volumes
	try := func(path string, set func(*corev1.PodSpec)) {
		s := one
		set(&s)
		if r := c.fn(pt.Meta, &s); !r.Allowed && (podOnly.Allowed || detailOf(r) != detailOf(podOnly)) {
			out = append(out, location{field: path + c.doc.containerField, detail: detailOf(r)})
		}
	}
	for i := range spec.InitContainers {
		try(pt.SpecPath+".initContainers["+strconv.Itoa(i)+"]", func(s *corev1.PodSpec) { s.InitContainers = spec.InitContainers[i : i+1] })
	}
	for i := range spec.Containers {
		try(pt.SpecPath+".containers["+strconv.Itoa(i)+"]", func(s *corev1.PodSpec) { s.Containers = spec.Containers[i : i+1] })
	}
	for i := range spec.EphemeralContainers {
		try(pt.SpecPath+".ephemeralContainers["+strconv.Itoa(i)+"]", func(s *corev1.PodSpec) { s.EphemeralContainers = spec.EphemeralContainers[i : i+1] })
	}
	if len(out) == 0 {
		// The failure needs several parts together; report it on the pod.
		out = append(out, location{field: podField(c.doc, pt), detail: detailOf(whole)})
	}
	return out
}

func podField(d controlDoc, pt *policy.PodTemplate) string {
	switch {
	case d.podField == "":
		return pt.SpecPath
	case strings.HasPrefix(d.podField, "metadata."):
		return pt.MetaPath + strings.TrimPrefix(d.podField, "metadata")
	case d.podField == "hostNamespaces":
		s := pt.Spec
		switch {
		case s.HostNetwork:
			return pt.SpecPath + ".hostNetwork"
		case s.HostPID:
			return pt.SpecPath + ".hostPID"
		case s.HostIPC:
			return pt.SpecPath + ".hostIPC"
		}
		return pt.SpecPath
	}
	return pt.SpecPath + "." + d.podField
}

// EvaluateUpstream runs the upstream evaluator (psa.NewEvaluator over
// psa.DefaultChecks) for the pack's level and version. It exists so that
// tests and callers can cross-check the pack against the registry itself.
func EvaluateUpstream(lv api.LevelVersion, meta *metav1.ObjectMeta, spec *corev1.PodSpec) ([]psa.CheckResult, error) {
	ev, err := psa.NewEvaluator(psa.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security check registry: %w", err)
	}
	return ev.EvaluatePod(lv, meta, spec), nil
}
