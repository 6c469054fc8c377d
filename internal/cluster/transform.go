package cluster

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slim is the informers' transform (cache.TransformFunc): it replaces each
// object by a copy holding only what the View reads, so the caches do not
// keep managedFields, annotations (kubectl's last-applied-configuration
// alone often doubles an object), environment, volumes, probes, resources,
// conditions and the rest of specs and statuses. Objects of other types
// (e.g. cache.DeletedFinalStateUnknown) pass unchanged.
//
// What is kept: metadata name, namespace, UID, resourceVersion, labels and
// owner references; Pod container names and images, node name, phase and
// container statuses' name, image and image ID; workload selectors and
// pod templates' labels and container images; Service selectors; Ingress
// backends; NetworkPolicy pod selectors and policy types (omitted types
// filled in as the apiserver does, so the rules need not be kept); Node
// role labels, unschedulable, readiness and kubelet version; Namespace
// names. NetworkPolicies and Namespaces keep only name, namespace, UID and
// resourceVersion of their metadata.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &corev1.Pod{
			ObjectMeta: slimMeta(o.ObjectMeta),
			Spec:       slimPodSpec(o.Spec),
			Status: corev1.PodStatus{
				Phase:                      o.Status.Phase,
				ContainerStatuses:          slimStatuses(o.Status.ContainerStatuses),
				InitContainerStatuses:      slimStatuses(o.Status.InitContainerStatuses),
				EphemeralContainerStatuses: slimStatuses(o.Status.EphemeralContainerStatuses),
			},
		}, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: slimMeta(o.ObjectMeta),
			Spec: appsv1.DeploymentSpec{Selector: o.Spec.Selector, Template: slimTemplate(o.Spec.Template)}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: slimMeta(o.ObjectMeta),
			Spec: appsv1.StatefulSetSpec{Selector: o.Spec.Selector, Template: slimTemplate(o.Spec.Template)}}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: slimMeta(o.ObjectMeta),
			Spec: appsv1.DaemonSetSpec{Selector: o.Spec.Selector, Template: slimTemplate(o.Spec.Template)}}, nil
	case *appsv1.ReplicaSet:
		// Read only to find a Pod's Deployment through owner references.
		return &appsv1.ReplicaSet{ObjectMeta: slimMeta(o.ObjectMeta)}, nil
	case *batchv1.Job:
		return &batchv1.Job{ObjectMeta: slimMeta(o.ObjectMeta),
			Spec: batchv1.JobSpec{Template: slimTemplate(o.Spec.Template)}}, nil
	case *batchv1.CronJob:
		return &batchv1.CronJob{ObjectMeta: slimMeta(o.ObjectMeta),
			Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: slimTemplate(o.Spec.JobTemplate.Spec.Template)}}}}, nil
	case *corev1.Service:
		return &corev1.Service{ObjectMeta: slimMeta(o.ObjectMeta), Spec: corev1.ServiceSpec{Selector: o.Spec.Selector}}, nil
	case *networkingv1.Ingress:
		spec := networkingv1.IngressSpec{DefaultBackend: o.Spec.DefaultBackend}
		for _, r := range o.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			http := &networkingv1.HTTPIngressRuleValue{Paths: make([]networkingv1.HTTPIngressPath, 0, len(r.HTTP.Paths))}
			for _, p := range r.HTTP.Paths {
				http.Paths = append(http.Paths, networkingv1.HTTPIngressPath{Backend: p.Backend})
			}
			spec.Rules = append(spec.Rules, networkingv1.IngressRule{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: http}})
		}
		return &networkingv1.Ingress{ObjectMeta: slimMeta(o.ObjectMeta), Spec: spec}, nil
	case *networkingv1.NetworkPolicy:
		return &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion},
			Spec:       networkingv1.NetworkPolicySpec{PodSelector: o.Spec.PodSelector, PolicyTypes: effectivePolicyTypes(o.Spec)},
		}, nil
	case *corev1.Node:
		meta := slimMeta(o.ObjectMeta)
		meta.Labels = nil
		for k, v := range o.Labels {
			if strings.HasPrefix(k, "node-role.kubernetes.io/") {
				if meta.Labels == nil {
					meta.Labels = map[string]string{}
				}
				meta.Labels[k] = v
			}
		}
		n := &corev1.Node{ObjectMeta: meta, Spec: corev1.NodeSpec{Unschedulable: o.Spec.Unschedulable}}
		n.Status.NodeInfo.KubeletVersion = o.Status.NodeInfo.KubeletVersion
		for _, c := range o.Status.Conditions {
			if c.Type == corev1.NodeReady {
				n.Status.Conditions = []corev1.NodeCondition{{Type: c.Type, Status: c.Status}}
			}
		}
		return n, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}}, nil
	}
	return obj, nil
}

// slimMeta keeps the identity, labels and owner references of an object.
func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Labels: m.Labels, OwnerReferences: m.OwnerReferences,
	}
}

// slimTemplate keeps a pod template's labels and container images.
func slimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: t.Labels}, Spec: slimPodSpec(t.Spec)}
}

// slimPodSpec keeps the node name and the containers' names and images.
func slimPodSpec(s corev1.PodSpec) corev1.PodSpec {
	out := corev1.PodSpec{NodeName: s.NodeName, Containers: slimContainers(s.Containers), InitContainers: slimContainers(s.InitContainers)}
	for _, c := range s.EphemeralContainers {
		out.EphemeralContainers = append(out.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
	}
	return out
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	return out
}

func slimStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(ss) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i, s := range ss {
		out[i] = corev1.ContainerStatus{Name: s.Name, Image: s.Image, ImageID: s.ImageID}
	}
	return out
}
