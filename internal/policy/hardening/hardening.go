// Package hardening implements workload hardening checks in the spirit of
// kube-score and Polaris as one policy pack ("hardening"):
//
//	read-only-root-filesystem        containers set securityContext.readOnlyRootFilesystem
//	automount-service-account-token  pods opt out of the API token unless they need it
//	host-path                        no hostPath volumes
//	image-pull-policy                imagePullPolicy Always for mutable tags
//	network-policy                   a NetworkPolicy selects every workload (complete sets only)
//	service-selector                 a Service's selector matches some workload (complete sets only)
package hardening

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeward/kubeward/internal/policy"
)

// Name is the pack's policy name.
const Name = "hardening"

// Rule names.
const (
	RuleReadOnlyRootFS  = "read-only-root-filesystem"
	RuleAutomountToken  = "automount-service-account-token"
	RuleHostPath        = "host-path"
	RuleImagePullPolicy = "image-pull-policy"
	RuleNetworkPolicy   = "network-policy"
	RuleServiceSelector = "service-selector"
)

// Pack is the hardening checker.
type Pack struct{}

// New returns the hardening pack.
func New() *Pack { return &Pack{} }

// Name implements policy.Checker.
func (*Pack) Name() string { return Name }

// Check implements policy.Checker.
func (*Pack) Check(_ context.Context, obj *policy.Object, set *policy.Set, emit func(policy.Result)) error {
	if obj.GVK.Kind == "Service" && set != nil && set.Complete {
		checkServiceSelector(obj, set, emit)
	}
	pt := obj.Pod
	if pt == nil {
		return nil
	}
	checkAutomount(pt, emit)
	checkHostPath(pt, emit)
	for c := range pt.Containers() {
		if !c.Ephemeral {
			checkReadOnlyRoot(c, emit)
		}
		checkPullPolicy(c, emit)
	}
	if set != nil && set.Complete {
		checkNetworkPolicy(obj, set, emit)
	}
	return nil
}

func res(rule string, ok bool, sev policy.Severity, field, msg, fix string) policy.Result {
	if ok {
		return policy.Result{Rule: rule, Result: policy.Pass, Severity: sev, Message: msg}
	}
	return policy.Result{Rule: rule, Result: policy.Fail, Severity: sev, Field: field, Message: msg, Remediation: fix}
}

func checkReadOnlyRoot(c policy.ContainerRef, emit func(policy.Result)) {
	sc := c.Container.SecurityContext
	ok := sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	msg := fmt.Sprintf("container %q root filesystem is read-only", c.Container.Name)
	if !ok {
		msg = fmt.Sprintf("container %q has a writable root filesystem", c.Container.Name)
	}
	emit(res(RuleReadOnlyRootFS, ok, policy.SeverityMedium, c.Path+".securityContext.readOnlyRootFilesystem", msg,
		"Set securityContext.readOnlyRootFilesystem to true and mount emptyDir volumes where the application writes."))
}

func checkAutomount(pt *policy.PodTemplate, emit func(policy.Result)) {
	a := pt.Spec.AutomountServiceAccountToken
	ok := a != nil && !*a
	msg := "pod does not mount a service account token"
	if !ok {
		msg = "pod mounts a Kubernetes API token it may not need"
	}
	emit(res(RuleAutomountToken, ok, policy.SeverityLow, pt.SpecPath+".automountServiceAccountToken", msg,
		"Set automountServiceAccountToken: false on the pod (or its ServiceAccount) unless the application calls the Kubernetes API."))
}

func checkHostPath(pt *policy.PodTemplate, emit func(policy.Result)) {
	found := false
	for i, v := range pt.Spec.Volumes {
		if v.HostPath == nil {
			continue
		}
		found = true
		emit(res(RuleHostPath, false, policy.SeverityHigh, pt.SpecPath+".volumes["+strconv.Itoa(i)+"].hostPath",
			fmt.Sprintf("volume %q mounts host path %s", v.Name, v.HostPath.Path),
			"Replace the hostPath volume with emptyDir, a ConfigMap/Secret or a PersistentVolumeClaim."))
	}
	if !found {
		emit(res(RuleHostPath, true, policy.SeverityHigh, "", "pod mounts no host path", ""))
	}
}

func checkPullPolicy(c policy.ContainerRef, emit func(policy.Result)) {
	pp := c.Container.ImagePullPolicy
	ok := pp == corev1.PullAlways
	msg := fmt.Sprintf("container %q pulls its image on every start", c.Container.Name)
	if !ok {
		if pp == "" {
			pp = "unset"
		}
		msg = fmt.Sprintf("container %q imagePullPolicy is %s: a node may run a stale or tampered cached image", c.Container.Name, pp)
	}
	emit(res(RuleImagePullPolicy, ok, policy.SeverityLow, c.Path+".imagePullPolicy", msg,
		"Set imagePullPolicy: Always (or pin the image by digest)."))
}

// checkNetworkPolicy requires that some NetworkPolicy of the workload's
// namespace selects its pods.
func checkNetworkPolicy(obj *policy.Object, set *policy.Set, emit func(policy.Result)) {
	ns := policy.EffectiveNamespace(obj)
	podLabels := labels.Set(obj.Pod.Meta.Labels)
	for _, np := range set.Kind("NetworkPolicy") {
		if policy.EffectiveNamespace(np) != ns {
			continue
		}
		sel, ok := labelSelector(np.U.Object, "spec", "podSelector")
		if ok && sel.Matches(podLabels) {
			emit(res(RuleNetworkPolicy, true, policy.SeverityMedium, "", "NetworkPolicy "+np.Ref.Name+" selects the pods", ""))
			return
		}
	}
	emit(res(RuleNetworkPolicy, false, policy.SeverityMedium, obj.Pod.MetaPath+".labels",
		fmt.Sprintf("no NetworkPolicy in namespace %q selects these pods: all ingress and egress is allowed", ns),
		"Add a NetworkPolicy (a default-deny policy per namespace plus allow rules) whose podSelector matches the pods."))
}

func labelSelector(obj map[string]any, fields ...string) (labels.Selector, bool) {
	m, found, err := unstructured.NestedMap(obj, fields...)
	if err != nil {
		return nil, false
	}
	if !found {
		return labels.Everything(), true
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, false
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, false
	}
	return sel, true
}

// checkServiceSelector requires a Service's selector to match the pods of
// some workload in the same namespace.
func checkServiceSelector(obj *policy.Object, set *policy.Set, emit func(policy.Result)) {
	sel, found, err := unstructured.NestedStringMap(obj.U.Object, "spec", "selector")
	if err != nil || !found || len(sel) == 0 {
		return // ExternalName or manually managed endpoints
	}
	selector := labels.SelectorFromSet(sel)
	ns := policy.EffectiveNamespace(obj)
	for _, o := range set.Objects {
		if o.Pod == nil || policy.EffectiveNamespace(o) != ns {
			continue
		}
		if selector.Matches(labels.Set(o.Pod.Meta.Labels)) {
			emit(res(RuleServiceSelector, true, policy.SeverityMedium, "", fmt.Sprintf("selector matches %s", o.Ref), ""))
			return
		}
	}
	emit(res(RuleServiceSelector, false, policy.SeverityMedium, "spec.selector",
		fmt.Sprintf("selector %s matches no workload in namespace %q", selector, ns),
		"Fix the Service selector or the workload's pod template labels so that they match."))
}
