package policy

import (
	"fmt"
	"iter"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is one Kubernetes object under evaluation, decoded once: the
// generic form for CEL and the typed pod template for pod rules.
type Object struct {
	// U is the object as decoded from YAML or JSON.
	U *unstructured.Unstructured
	// Ref identifies the object in results.
	Ref Resource
	// GVK is the object's group, version and kind.
	GVK schema.GroupVersionKind
	// Source names where the object came from (file#document), if known.
	Source string
	// Pod is the object's pod template, nil for kinds that carry none.
	Pod *PodTemplate
	// Request is the admission request the object arrived in; nil when the
	// object comes from a manifest (evaluated as a CREATE by an unnamed
	// user).
	Request *Request
}

// Request describes an admission request for policies that look at it
// (CEL's request variable, oldObject).
type Request struct {
	// UID is the request's UID.
	UID string
	// Operation is CREATE, UPDATE, DELETE or CONNECT.
	Operation string
	// SubResource is the subresource requested, if any.
	SubResource string
	// DryRun is true for dry-run requests.
	DryRun bool
	// User is the requesting user.
	User authenticationv1.UserInfo
	// OldObject is the existing object for UPDATE and DELETE.
	OldObject *unstructured.Unstructured
}

// PodTemplate is the pod metadata and spec an object carries, with the field
// paths at which they sit inside the object.
type PodTemplate struct {
	// MetaPath is the path of the pod metadata ("metadata" for a Pod,
	// "spec.template.metadata" for a Deployment).
	MetaPath string
	// SpecPath is the path of the pod spec ("spec", "spec.template.spec",
	// "spec.jobTemplate.spec.template.spec").
	SpecPath string
	// Meta is the pod metadata.
	Meta *metav1.ObjectMeta
	// Spec is the pod spec.
	Spec *corev1.PodSpec
}

// podPaths maps pod-bearing kinds to the path of their pod template
// (nil for Pod, whose object is the template).
var podPaths = map[string][]string{
	"Pod":                   nil,
	"PodTemplate":           {"template"},
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// IsPodBearing reports whether kind carries a pod template.
func IsPodBearing(kind string) bool {
	_, ok := podPaths[kind]
	return ok
}

// NewObject wraps u, decoding its pod template when its kind has one. It
// fails when the object lacks apiVersion, kind or a name, or when its pod
// template does not decode into a PodSpec.
func NewObject(u *unstructured.Unstructured, source string) (*Object, error) {
	gvk := u.GroupVersionKind()
	if gvk.Kind == "" || u.GetAPIVersion() == "" {
		return nil, fmt.Errorf("%s: object has no apiVersion or kind: every manifest document must set both", sourceOr(source))
	}
	name := u.GetName()
	if name == "" {
		name = u.GetGenerateName()
	}
	o := &Object{
		U:      u,
		GVK:    gvk,
		Source: source,
		Ref:    Resource{APIVersion: u.GetAPIVersion(), Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: name},
	}
	path, ok := podPaths[gvk.Kind]
	if !ok {
		return o, nil
	}
	pt, err := decodePodTemplate(u.Object, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %q: %w", sourceOr(source), gvk.Kind, name, err)
	}
	o.Pod = pt
	return o, nil
}

func sourceOr(s string) string {
	if s == "" {
		return "object"
	}
	return s
}

func decodePodTemplate(obj map[string]any, path []string) (*PodTemplate, error) {
	base := obj
	for i, p := range path {
		next, ok := base[p].(map[string]any)
		if !ok {
			if base[p] == nil {
				next = map[string]any{}
			} else {
				return nil, fmt.Errorf("field %s is not an object", strings.Join(path[:i+1], "."))
			}
		}
		base = next
	}
	prefix := strings.Join(path, ".")
	join := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	pt := &PodTemplate{MetaPath: join("metadata"), SpecPath: join("spec"), Meta: &metav1.ObjectMeta{}, Spec: &corev1.PodSpec{}}
	if m, ok := base["metadata"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, pt.Meta); err != nil {
			return nil, fmt.Errorf("%s does not decode as object metadata: %w", pt.MetaPath, err)
		}
	} else if base["metadata"] != nil {
		return nil, fmt.Errorf("%s is not an object", pt.MetaPath)
	}
	if s, ok := base["spec"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(s, pt.Spec); err != nil {
			return nil, fmt.Errorf("%s does not decode as a pod spec: %w", pt.SpecPath, err)
		}
	} else if base["spec"] != nil {
		return nil, fmt.Errorf("%s is not an object", pt.SpecPath)
	}
	// The API server defaults a volume without a source to emptyDir
	// (SetDefaults_Volume); policies must see the object as stored.
	for i := range pt.Spec.Volumes {
		if pt.Spec.Volumes[i].VolumeSource == (corev1.VolumeSource{}) {
			pt.Spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	return pt, nil
}

// ContainerRef is one container of a pod template with its field path.
type ContainerRef struct {
	// Path is the container's field path, e.g. spec.template.spec.containers[0].
	Path string
	// Init is true for init containers.
	Init bool
	// Ephemeral is true for ephemeral (debug) containers.
	Ephemeral bool
	// Container is the container. For ephemeral containers it holds the
	// common fields.
	Container *corev1.Container
}

// Containers yields every container of the template: init containers,
// regular containers, then ephemeral containers.
func (p *PodTemplate) Containers() iter.Seq[ContainerRef] {
	return func(yield func(ContainerRef) bool) {
		for i := range p.Spec.InitContainers {
			if !yield(ContainerRef{Path: p.SpecPath + ".initContainers[" + strconv.Itoa(i) + "]", Init: true, Container: &p.Spec.InitContainers[i]}) {
				return
			}
		}
		for i := range p.Spec.Containers {
			if !yield(ContainerRef{Path: p.SpecPath + ".containers[" + strconv.Itoa(i) + "]", Container: &p.Spec.Containers[i]}) {
				return
			}
		}
		for i := range p.Spec.EphemeralContainers {
			c := corev1.Container(p.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			if !yield(ContainerRef{Path: p.SpecPath + ".ephemeralContainers[" + strconv.Itoa(i) + "]", Ephemeral: true, Container: &c}) {
				return
			}
		}
	}
}

// clusterScoped lists the built-in and common add-on kinds that have no
// namespace; every other kind is treated as namespaced.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CustomResourceDefinition": true, "StorageClass": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true, "CSIDriver": true,
	"CSINode": true, "VolumeAttachment": true, "APIService": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"CertificateSigningRequest": true, "FlowSchema": true, "PriorityLevelConfiguration": true,
	"ClusterPolicy": true, "ClusterIssuer": true, "GatewayClass": true,
	"ComponentStatus": true, "PodSecurityPolicy": true, "ClusterTrustBundle": true,
	"DeviceClass": true, "IPAddress": true, "ServiceCIDR": true,
}

// IsClusterScoped reports whether kind is known to be cluster-scoped.
func IsClusterScoped(kind string) bool { return clusterScoped[kind] }
