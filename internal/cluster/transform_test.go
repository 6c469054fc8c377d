package cluster

import (
	"encoding/json"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
)

// RichPod returns a Pod as a real cluster stores it: managedFields, the
// last-applied annotation, environment, resources, probes, volumes,
// tolerations, conditions and container states. i varies its name.
func RichPod(i int) *corev1.Pod {
	yes := true
	tokenSeconds := int64(3607)
	env := make([]corev1.EnvVar, 12)
	for j := range env {
		env[j] = corev1.EnvVar{Name: fmt.Sprintf("SETTING_%02d", j), Value: fmt.Sprintf("value-%d-%d-some-configuration-text", i, j)}
	}
	container := func(name, image string, port int32) corev1.Container {
		return corev1.Container{
			Name: name, Image: image, Env: env, Args: []string{fmt.Sprintf("--listen=:%d", port), "--log-level=info", "--metrics"},
			Ports: []corev1.ContainerPort{{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
			LivenessProbe:          &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(port)}}, PeriodSeconds: 10},
			ReadinessProbe:         &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(port)}}, PeriodSeconds: 5},
			VolumeMounts:           []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent,
		}
	}
	name := fmt.Sprintf("web-5d8f9c7b6-%05d", i)
	lastApplied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name, "labels": map[string]string{"app": "web"}},
		"spec": map[string]any{"containers": []corev1.Container{container("web", "nginx:1.27", 8080)}}})
	fields := `{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"8c1d\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:args":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{},"f:name":{},"f:ports":{},"f:readinessProbe":{},"f:resources":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}`
	status := `{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.244.1.7\"}":{}},"f:startTime":{}}}`
	now := metav1.Now()
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "shop", UID: types.UID(fmt.Sprintf("0f4c2a7e-0000-4000-8000-%012d", i)), ResourceVersion: fmt.Sprint(1000 + i),
			GenerateName: "web-5d8f9c7b6-", CreationTimestamp: now,
			Labels:          map[string]string{"app": "web", "pod-template-hash": "5d8f9c7b6"},
			Annotations:     map[string]string{corev1.LastAppliedConfigAnnotation: string(lastApplied), "prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f9c7b6", UID: "8c1d", Controller: &yes, BlockOwnerDeletion: &yes}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(status), Subresource: "status"},
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{container("web", "nginx:1.27", 8080), container("sidecar", "ghcr.io/example/proxy:v3", 9090)},
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &tokenSeconds}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			}}}}},
			NodeName: "node-1", ServiceAccountName: "default", RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, SchedulerName: "default-scheduler",
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{cond(corev1.PodInitialized), cond(corev1.PodReady), cond(corev1.ContainersReady), cond(corev1.PodScheduled)},
			HostIP:     "10.0.0.11", PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}}, StartTime: &now,
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "web", Image: "nginx:1.27", ImageID: "docker.io/library/nginx@sha256:0f7a5d6c1c7e1d3b0d4b6bcd48b1b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2", Ready: true, ContainerID: "containerd://4f1e0c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
				{Name: "sidecar", Image: "ghcr.io/example/proxy:v3", ImageID: "ghcr.io/example/proxy@sha256:1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", Ready: true, ContainerID: "containerd://9a8b7c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
			},
		},
	}
}

// TestSlim checks that the transform keeps every field the View reads and
// drops the bulk.
func TestSlim(t *testing.T) {
	yes := true
	owners := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u1", Controller: &yes}}
	rich := RichPod(1)
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}}, Spec: rich.Spec}
	slimTmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}, {Name: "sidecar", Image: "ghcr.io/example/proxy:v3"}}}}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "shop", UID: "u2", ResourceVersion: "7", Labels: map[string]string{"app": "web"}, OwnerReferences: owners}
	}
	bulky := func(name string) metav1.ObjectMeta {
		m := meta(name)
		m.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: "{…}"}
		m.ManagedFields = rich.ManagedFields
		m.Finalizers = []string{"f"}
		return m
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	now := metav1.Now()
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"pod", rich, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: rich.Name, Namespace: "shop", UID: rich.UID, ResourceVersion: rich.ResourceVersion, Labels: rich.Labels, OwnerReferences: rich.OwnerReferences},
			Spec:       slimTmpl.Spec,
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "web", Image: "nginx:1.27", ImageID: rich.Status.ContainerStatuses[0].ImageID},
				{Name: "sidecar", Image: "ghcr.io/example/proxy:v3", ImageID: rich.Status.ContainerStatuses[1].ImageID}}},
		}},
		{"deployment", &appsv1.Deployment{ObjectMeta: bulky("web"), Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl, Replicas: new(int32)}, Status: appsv1.DeploymentStatus{Replicas: 3}},
			&appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Selector: sel, Template: slimTmpl}}},
		{"statefulset", &appsv1.StatefulSet{ObjectMeta: bulky("db"), Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl, ServiceName: "db"}},
			&appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{Selector: sel, Template: slimTmpl}}},
		{"daemonset", &appsv1.DaemonSet{ObjectMeta: bulky("agent"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}},
			&appsv1.DaemonSet{ObjectMeta: meta("agent"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: slimTmpl}}},
		{"replicaset", &appsv1.ReplicaSet{ObjectMeta: bulky("web-1"), Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}},
			&appsv1.ReplicaSet{ObjectMeta: meta("web-1")}},
		{"job", &batchv1.Job{ObjectMeta: bulky("j"), Spec: batchv1.JobSpec{Template: tmpl, BackoffLimit: new(int32)}},
			&batchv1.Job{ObjectMeta: meta("j"), Spec: batchv1.JobSpec{Template: slimTmpl}}},
		{"cronjob", &batchv1.CronJob{ObjectMeta: bulky("cj"), Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
			&batchv1.CronJob{ObjectMeta: meta("cj"), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: slimTmpl}}}}},
		{"service", &corev1.Service{ObjectMeta: bulky("s"), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}, ClusterIP: "10.96.0.7"}},
			&corev1.Service{ObjectMeta: meta("s"), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}},
		{"ingress", &networkingv1.Ingress{ObjectMeta: bulky("i"), Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "d"}},
			TLS:            []networkingv1.IngressTLS{{Hosts: []string{"a"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{{Host: "a"}, {Host: "b", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/", Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}}}}}}}}},
			&networkingv1.Ingress{ObjectMeta: meta("i"), Spec: networkingv1.IngressSpec{
				DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "d"}},
				Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}}}}}}}}}},
		{"node", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/hostname": "n"}, Annotations: map[string]string{"x": "y"}},
			Spec: corev1.NodeSpec{Unschedulable: true, PodCIDR: "10.244.0.0/24"},
			Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian"}, Images: []corev1.ContainerImage{{Names: []string{"nginx"}}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, Message: "kubelet is posting ready status"}}}},
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}, Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2"}, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}},
		{"namespace", &corev1.Namespace{ObjectMeta: bulky("shop"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", UID: "u2", ResourceVersion: "7"}}},
		{"networkpolicy keeps selector and types", &networkingv1.NetworkPolicy{ObjectMeta: bulky("np"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}}}}}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "np", Namespace: "shop", UID: "u2", ResourceVersion: "7"},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: *sel, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}},
		{"networkpolicy without types and rules is ingress", &networkingv1.NetworkPolicy{ObjectMeta: bulky("deny")},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "shop", UID: "u2", ResourceVersion: "7"},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}},
		{"networkpolicy without types but egress rules is both", &networkingv1.NetworkPolicy{ObjectMeta: bulky("both"), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *sel, Ingress: []networkingv1.NetworkPolicyIngressRule{{}}, Egress: []networkingv1.NetworkPolicyEgressRule{{}}}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "both", Namespace: "shop", UID: "u2", ResourceVersion: "7"},
				Spec: networkingv1.NetworkPolicySpec{PodSelector: *sel, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}}},
		{"tombstone passes unchanged", cache.DeletedFinalStateUnknown{Key: "shop/web"}, cache.DeletedFinalStateUnknown{Key: "shop/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := slim(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tt.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tt.want)
				t.Errorf("slim =\n%s\nwant\n%s", g, w)
			}
		})
	}
}
