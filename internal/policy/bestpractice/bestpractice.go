// Package bestpractice implements the eight classic best-practice rules as
// one policy pack ("best-practice"):
//
//	no-privileged         no privileged containers
//	no-nodeport           no Services of type NodePort
//	image-tag             no :latest or untagged images (digests pass)
//	no-default-namespace  no namespaced object in "default" (no namespace counts as default)
//	replica-range         replicas within [min, max] (only when configured)
//	allowed-registries    images only from registries matching the allow-list globs (only when configured)
//	resources             CPU and memory requests and a memory limit (CPU limit optional)
//	probes                liveness and/or readiness probes (any-of or all-of)
//
// Neutral defaults: no registry allow-list and no replica range until
// configured, CPU limit not required, probes any-of.
package bestpractice

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubeward/kubeward/internal/policy"
)

// Name is the pack's policy name.
const Name = "best-practice"

// Rule names.
const (
	RuleNoPrivileged       = "no-privileged"
	RuleNoNodePort         = "no-nodeport"
	RuleImageTag           = "image-tag"
	RuleNoDefaultNamespace = "no-default-namespace"
	RuleReplicaRange       = "replica-range"
	RuleAllowedRegistries  = "allowed-registries"
	RuleResources          = "resources"
	RuleProbes             = "probes"
)

// ProbeMode says which probes a long-running container needs.
type ProbeMode string

// Probe modes.
const (
	// ProbesAnyOf requires a liveness or a readiness probe.
	ProbesAnyOf ProbeMode = "any-of"
	// ProbesAllOf requires both a liveness and a readiness probe.
	ProbesAllOf ProbeMode = "all-of"
)

// Config parameterises the rules. The zero value is the neutral default.
type Config struct {
	// MinReplicas and MaxReplicas bound spec.replicas of Deployments,
	// StatefulSets, ReplicaSets and ReplicationControllers; 0 leaves a bound
	// unset and the rule runs only when one is set.
	MinReplicas int `json:"minReplicas,omitempty"`
	MaxReplicas int `json:"maxReplicas,omitempty"`
	// AllowedRegistries are globs (see MatchRegistry) over the normalised
	// image name without tag or digest (docker.io/library/nginx,
	// registry.example.com/team/*). Empty disables the rule.
	AllowedRegistries []string `json:"allowedRegistries,omitempty"`
	// RequireCPULimit also requires limits.cpu.
	RequireCPULimit bool `json:"requireCPULimit,omitempty"`
	// Probes is any-of (default) or all-of.
	Probes ProbeMode `json:"probes,omitempty"`
}

// Validate reports whether the configuration can be used.
func (c Config) Validate() error {
	if c.MinReplicas < 0 || c.MaxReplicas < 0 {
		return fmt.Errorf("best-practice: replica bounds must not be negative (min %d, max %d)", c.MinReplicas, c.MaxReplicas)
	}
	if c.MaxReplicas > 0 && c.MinReplicas > c.MaxReplicas {
		return fmt.Errorf("best-practice: minReplicas %d is above maxReplicas %d", c.MinReplicas, c.MaxReplicas)
	}
	for _, g := range c.AllowedRegistries {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("best-practice: allowed registry glob %q: %w", g, err)
		}
	}
	switch c.Probes {
	case "", ProbesAnyOf, ProbesAllOf:
	default:
		return fmt.Errorf("best-practice: probes %q: want any-of or all-of", c.Probes)
	}
	return nil
}

// Pack is the best-practice checker.
type Pack struct {
	cfg Config
}

// New returns the pack configured by cfg.
func New(cfg Config) (*Pack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Probes == "" {
		cfg.Probes = ProbesAnyOf
	}
	return &Pack{cfg: cfg}, nil
}

// Name implements policy.Checker.
func (p *Pack) Name() string { return Name }

// Check implements policy.Checker.
func (p *Pack) Check(_ context.Context, obj *policy.Object, _ *policy.Set, emit func(policy.Result)) error {
	p.checkNamespace(obj, emit)
	switch obj.GVK.Kind {
	case "Service":
		checkNodePort(obj, emit)
	case "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController":
		p.checkReplicas(obj, emit)
	}
	if obj.Pod == nil {
		return nil
	}
	for c := range obj.Pod.Containers() {
		checkPrivileged(c, emit)
		img, err := ParseImage(c.Container.Image)
		checkImageTag(c, img, err, emit)
		p.checkRegistry(c, img, err, emit)
		if !c.Ephemeral {
			p.checkResources(c, emit)
		}
		if !c.Init && !c.Ephemeral && longRunning(obj.GVK.Kind) {
			p.checkProbes(c, emit)
		}
	}
	return nil
}

func pass(rule string, sev policy.Severity, msg string) policy.Result {
	return policy.Result{Rule: rule, Result: policy.Pass, Severity: sev, Message: msg}
}

func fail(rule string, sev policy.Severity, field, msg, fix string) policy.Result {
	return policy.Result{Rule: rule, Result: policy.Fail, Severity: sev, Field: field, Message: msg, Remediation: fix}
}

func checkPrivileged(c policy.ContainerRef, emit func(policy.Result)) {
	sc := c.Container.SecurityContext
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		emit(fail(RuleNoPrivileged, policy.SeverityCritical, c.Path+".securityContext.privileged",
			fmt.Sprintf("container %q runs privileged", c.Container.Name),
			"Remove securityContext.privileged or set it to false; grant only the capabilities the container needs."))
		return
	}
	emit(pass(RuleNoPrivileged, policy.SeverityCritical, "container "+c.Container.Name+" is not privileged"))
}

func checkNodePort(obj *policy.Object, emit func(policy.Result)) {
	typ, _, _ := unstructured.NestedString(obj.U.Object, "spec", "type")
	if typ == string(corev1.ServiceTypeNodePort) {
		emit(fail(RuleNoNodePort, policy.SeverityMedium, "spec.type",
			"Service is of type NodePort and opens a port on every node",
			"Use type ClusterIP behind an Ingress or Gateway, or type LoadBalancer."))
		return
	}
	emit(pass(RuleNoNodePort, policy.SeverityMedium, "Service is not of type NodePort"))
}

func (p *Pack) checkNamespace(obj *policy.Object, emit func(policy.Result)) {
	if policy.IsClusterScoped(obj.GVK.Kind) {
		return
	}
	const fix = "Set metadata.namespace to a dedicated namespace for the application."
	switch obj.Ref.Namespace {
	case "":
		emit(fail(RuleNoDefaultNamespace, policy.SeverityLow, "metadata.namespace",
			"no namespace is set, so the object lands in the default namespace (or whatever the deploying context uses)", fix))
	case "default":
		emit(fail(RuleNoDefaultNamespace, policy.SeverityLow, "metadata.namespace", "object is in the default namespace", fix))
	default:
		emit(pass(RuleNoDefaultNamespace, policy.SeverityLow, "namespace "+obj.Ref.Namespace))
	}
}

func (p *Pack) checkReplicas(obj *policy.Object, emit func(policy.Result)) {
	if p.cfg.MinReplicas == 0 && p.cfg.MaxReplicas == 0 {
		return
	}
	replicas, found, err := unstructured.NestedInt64(obj.U.Object, "spec", "replicas")
	if err != nil {
		emit(fail(RuleReplicaRange, policy.SeverityMedium, "spec.replicas", "spec.replicas is not an integer", "Set spec.replicas to an integer."))
		return
	}
	if !found {
		replicas = 1 // the API server's default
	}
	rng := fmt.Sprintf("[%d, %s]", p.cfg.MinReplicas, maxString(p.cfg.MaxReplicas))
	if replicas < int64(p.cfg.MinReplicas) || (p.cfg.MaxReplicas > 0 && replicas > int64(p.cfg.MaxReplicas)) {
		emit(fail(RuleReplicaRange, policy.SeverityMedium, "spec.replicas",
			fmt.Sprintf("%d replicas is outside the allowed range %s", replicas, rng),
			fmt.Sprintf("Set spec.replicas within %s (or scale with a HorizontalPodAutoscaler bounded the same way).", rng)))
		return
	}
	emit(pass(RuleReplicaRange, policy.SeverityMedium, fmt.Sprintf("%d replicas is within %s", replicas, rng)))
}

func maxString(n int) string {
	if n == 0 {
		return "∞"
	}
	return fmt.Sprint(n)
}

// Image is a parsed container image reference.
type Image struct {
	// Name is the normalised repository (docker.io/library/nginx).
	Name string
	// Tag is the tag, empty when none was given.
	Tag string
	// Digest is the digest, empty when none was given.
	Digest string
}

// ParseImage parses and normalises a container image reference the way
// the container runtime does (nginx → docker.io/library/nginx).
func ParseImage(s string) (Image, error) {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Image{}, fmt.Errorf("image %q: %w", s, err)
	}
	img := Image{Name: ref.Name()}
	if t, ok := ref.(reference.Tagged); ok {
		img.Tag = t.Tag()
	}
	if d, ok := ref.(reference.Digested); ok {
		img.Digest = d.Digest().String()
	}
	return img, nil
}

func checkImageTag(c policy.ContainerRef, img Image, err error, emit func(policy.Result)) {
	field := c.Path + ".image"
	switch {
	case c.Container.Image == "":
		emit(fail(RuleImageTag, policy.SeverityHigh, field, fmt.Sprintf("container %q has no image", c.Container.Name), "Set an image with a fixed tag or digest."))
	case err != nil:
		emit(fail(RuleImageTag, policy.SeverityHigh, field, fmt.Sprintf("container %q: %v", c.Container.Name, err), "Use a valid image reference with a fixed tag or digest."))
	case img.Digest != "":
		emit(pass(RuleImageTag, policy.SeverityHigh, "container "+c.Container.Name+" image is pinned by digest"))
	case img.Tag == "":
		emit(fail(RuleImageTag, policy.SeverityHigh, field, fmt.Sprintf("container %q image %q has no tag (it means :latest)", c.Container.Name, c.Container.Image),
			"Pin the image to a version tag or, better, a digest (image@sha256:…)."))
	case img.Tag == "latest":
		emit(fail(RuleImageTag, policy.SeverityHigh, field, fmt.Sprintf("container %q image %q uses the :latest tag", c.Container.Name, c.Container.Image),
			"Pin the image to a version tag or, better, a digest (image@sha256:…)."))
	default:
		emit(pass(RuleImageTag, policy.SeverityHigh, "container "+c.Container.Name+" image tag "+img.Tag))
	}
}

func (p *Pack) checkRegistry(c policy.ContainerRef, img Image, err error, emit func(policy.Result)) {
	if len(p.cfg.AllowedRegistries) == 0 {
		return
	}
	field := c.Path + ".image"
	if err != nil {
		emit(fail(RuleAllowedRegistries, policy.SeverityHigh, field, fmt.Sprintf("container %q: %v", c.Container.Name, err), "Use a valid image reference from an allowed registry."))
		return
	}
	for _, g := range p.cfg.AllowedRegistries {
		if MatchRegistry(g, img.Name) {
			emit(pass(RuleAllowedRegistries, policy.SeverityHigh, "container "+c.Container.Name+" image "+img.Name+" matches "+g))
			return
		}
	}
	emit(fail(RuleAllowedRegistries, policy.SeverityHigh, field,
		fmt.Sprintf("container %q image %s is not from an allowed registry (%s)", c.Container.Name, img.Name, strings.Join(p.cfg.AllowedRegistries, ", ")),
		"Mirror the image into an allowed registry and reference it from there."))
}

// MatchRegistry reports whether the normalised image name matches glob:
// path.Match over the whole name or over any leading part of it cut at a
// slash, so "registry.example.com" and "registry.example.com/team/*" both
// admit registry.example.com/team/app/worker.
func MatchRegistry(glob, name string) bool {
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '/' {
			continue
		}
		if ok, _ := path.Match(glob, name[:i]); ok {
			return true
		}
	}
	return false
}

func (p *Pack) checkResources(c policy.ContainerRef, emit func(policy.Result)) {
	r := c.Container.Resources
	var missing []string
	var field string
	need := func(list corev1.ResourceList, kind string, name corev1.ResourceName) {
		if _, ok := list[name]; !ok {
			missing = append(missing, kind+"."+string(name))
			if field == "" {
				field = c.Path + ".resources." + kind + "." + string(name)
			}
		}
	}
	need(r.Requests, "requests", corev1.ResourceCPU)
	need(r.Requests, "requests", corev1.ResourceMemory)
	need(r.Limits, "limits", corev1.ResourceMemory)
	if p.cfg.RequireCPULimit {
		need(r.Limits, "limits", corev1.ResourceCPU)
	}
	if len(missing) > 0 {
		emit(fail(RuleResources, policy.SeverityMedium, field,
			fmt.Sprintf("container %q does not set %s", c.Container.Name, strings.Join(missing, ", ")),
			"Set resources.requests.cpu, resources.requests.memory and resources.limits.memory from observed usage."))
		return
	}
	emit(pass(RuleResources, policy.SeverityMedium, "container "+c.Container.Name+" sets requests and limits"))
}

// longRunning reports whether pods of kind serve continuously and so need
// probes (Jobs and CronJobs run to completion).
func longRunning(kind string) bool {
	switch kind {
	case "Job", "CronJob":
		return false
	}
	return true
}

func (p *Pack) checkProbes(c policy.ContainerRef, emit func(policy.Result)) {
	live, ready := c.Container.LivenessProbe != nil, c.Container.ReadinessProbe != nil
	ok := live || ready
	want := "a liveness or readiness probe"
	if p.cfg.Probes == ProbesAllOf {
		ok = live && ready
		want = "both a liveness and a readiness probe"
	}
	if ok {
		emit(pass(RuleProbes, policy.SeverityLow, "container "+c.Container.Name+" has "+want))
		return
	}
	field := c.Path + ".livenessProbe"
	if live {
		field = c.Path + ".readinessProbe"
	}
	emit(fail(RuleProbes, policy.SeverityLow, field, fmt.Sprintf("container %q lacks %s", c.Container.Name, want),
		"Add an httpGet, tcpSocket, grpc or exec probe that reflects the container's health."))
}
