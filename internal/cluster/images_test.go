package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/kubetest"
)

// Digests of the images the inventory pods report (made up, well formed).
const (
	nginxDigest = "sha256:0f7a5d6c1c7e1d3b0d4b6bcd48b1b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2"
	redisDigest = "sha256:1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001"
	busyDigest  = "sha256:2a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40414243444546474849"
	oldDigest   = "sha256:3f3e3d3c3b3a393837363534333231302f2e2d2c2b2a29282726252423222120"
	agentDigest = "sha256:4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b"
)

// seedInventory creates, in namespace inventory, one workload of every kind
// and their Pods (there is no controller-manager), then sets the Pods'
// container statuses through the status subresource as a kubelet would:
//   - Deployment web (nginx:1.27, init busybox) → ReplicaSet → 3 Pods, one
//     of them still on an older nginx digest;
//   - StatefulSet cache (redis:7.2) → 1 Pod; DaemonSet agent (pinned by
//     digest) → 1 Pod; CronJob nightly → Job → 1 Pod; Job migrate with no
//     Pod yet; a bare Pod debug (busybox).
func seedInventory(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	const ns = "inventory"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	spec := func(images ...string) corev1.PodSpec {
		var s corev1.PodSpec
		for i, img := range images {
			s.Containers = append(s.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
		}
		return s
	}
	tmpl := func(l map[string]string, s corev1.PodSpec) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: s}
	}
	sel := func(l map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: l} }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ref := func(apiVersion, kind string, m metav1.ObjectMeta) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: m.Name, UID: m.UID, Controller: &yes}}
	}

	web := map[string]string{"app": "web"}
	webSpec := spec("nginx:1.27")
	webSpec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.36"}}
	dep, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: sel(web), Template: tmpl(web, webSpec)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-7c9", Labels: web, OwnerReferences: ref("apps/v1", "Deployment", dep.ObjectMeta)},
		Spec: appsv1.ReplicaSetSpec{Selector: sel(web), Template: tmpl(web, webSpec)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cacheL := map[string]string{"app": "cache"}
	sts, err := c.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "cache"},
		Spec: appsv1.StatefulSetSpec{Selector: sel(cacheL), Template: tmpl(cacheL, spec("redis:7.2"))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	agentL := map[string]string{"app": "agent"}
	agentImage := "ghcr.io/example/agent@" + agentDigest
	ds, err := c.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: sel(agentL), Template: tmpl(agentL, spec(agentImage))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jobSpec := tmpl(nil, spec("ghcr.io/example/report:v2"))
	jobSpec.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj, err := c.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobSpec}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cjJob, err := c.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-290", OwnerReferences: ref("batch/v1", "CronJob", cj.ObjectMeta)},
		Spec: batchv1.JobSpec{Template: jobSpec}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	migrate := tmpl(nil, spec("ghcr.io/example/migrate:v1"))
	migrate.Spec.RestartPolicy = corev1.RestartPolicyNever
	must(c.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate"}, Spec: batchv1.JobSpec{Template: migrate}}, metav1.CreateOptions{}))

	// pod creates a Pod and reports its containers running imageIDs.
	pod := func(name string, l map[string]string, owners []metav1.OwnerReference, s corev1.PodSpec, imageIDs ...string) {
		t.Helper()
		p, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, OwnerReferences: owners}, Spec: s}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		status := func(cs []corev1.Container, ids []string) []corev1.ContainerStatus {
			var out []corev1.ContainerStatus
			for i, ctr := range cs {
				out = append(out, corev1.ContainerStatus{Name: ctr.Name, Image: ctr.Image, ImageID: ids[i], Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}})
			}
			return out
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.InitContainerStatuses = status(s.InitContainers, imageIDs)
		p.Status.ContainerStatuses = status(s.Containers, imageIDs[len(s.InitContainers):])
		for i := range p.Status.InitContainerStatuses {
			p.Status.InitContainerStatuses[i].Ready = false
			p.Status.InitContainerStatuses[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
		}
		must(c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}))
	}
	rsOwner := ref("apps/v1", "ReplicaSet", rs.ObjectMeta)
	pod("web-7c9-a", web, rsOwner, webSpec, "docker.io/library/busybox@"+busyDigest, "docker.io/library/nginx@"+nginxDigest)
	pod("web-7c9-b", web, rsOwner, webSpec, "docker.io/library/busybox@"+busyDigest, "docker.io/library/nginx@"+nginxDigest)
	pod("web-7c9-c", web, rsOwner, webSpec, "docker.io/library/busybox@"+busyDigest, "docker-pullable://nginx@"+oldDigest)
	pod("cache-0", cacheL, ref("apps/v1", "StatefulSet", sts.ObjectMeta), spec("redis:7.2"), "docker.io/library/redis@"+redisDigest)
	pod("agent-x1", agentL, ref("apps/v1", "DaemonSet", ds.ObjectMeta), spec(agentImage), "ghcr.io/example/agent@"+agentDigest)
	pod("nightly-290-q", nil, ref("batch/v1", "Job", cjJob.ObjectMeta), jobSpec.Spec, "ghcr.io/example/report@"+oldDigest)
	pod("debug", map[string]string{"app": "debug"}, nil, spec("busybox:1.36"), busyDigest)
}

func TestImagesAgainstAPIServer(t *testing.T) {
	kc := kubetest.Start(t, kubetest.Options{})
	seedInventory(t, kc.Client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	view := cluster.New(kc.Client, 0)
	if err := view.Start(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("inventory", func(t *testing.T) {
		inv, err := view.Images(cluster.ImageFilter{Namespace: "inventory"})
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "images.golden.json", "inventory", inv)
		// The pod counts add up to the Pods the test created.
		pods, err := kc.Client.CoreV1().Pods("inventory").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for _, w := range inv {
			n += w.Pods
		}
		if n != len(pods.Items) {
			t.Errorf("workloads count %d pods, the namespace has %d", n, len(pods.Items))
		}
	})

	t.Run("which workloads run an image", func(t *testing.T) {
		tests := []struct {
			query string
			want  []string // Kind/name: pods…, declared marked with *
		}{
			{"nginx:1.27", []string{"Deployment/web*: web-7c9-a web-7c9-b web-7c9-c"}},
			{"docker.io/library/nginx:1.27", []string{"Deployment/web*: web-7c9-a web-7c9-b web-7c9-c"}},
			{nginxDigest, []string{"Deployment/web: web-7c9-a web-7c9-b"}},
			{"nginx@" + oldDigest, []string{"CronJob/nightly: nightly-290-q", "Deployment/web: web-7c9-c"}},
			{"busybox:1.36", []string{"Deployment/web*: web-7c9-a web-7c9-b web-7c9-c", "Pod/debug*: debug"}},
			{busyDigest, []string{"Deployment/web: web-7c9-a web-7c9-b web-7c9-c", "Pod/debug: debug"}},
			{agentDigest, []string{"DaemonSet/agent*: agent-x1"}},
			{"ghcr.io/example/migrate:v1", []string{"Job/migrate*:"}},
			{"redis", nil}, // latest: nothing runs it
			{"nginx:1.25", nil},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				q, err := cluster.ParseImageQuery(tt.query)
				if err != nil {
					t.Fatal(err)
				}
				uses, err := view.WorkloadsRunning(q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, u := range uses {
					if u.Namespace != "inventory" {
						continue
					}
					mark := ""
					if u.Declared {
						mark = "*"
					}
					s := fmt.Sprintf("%s/%s%s:", u.Kind, u.Name, mark)
					for _, p := range u.Pods {
						s += " " + p
					}
					got = append(got, s)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("WorkloadsRunning(%s) = %q, want %q", tt.query, got, tt.want)
				}
				// The inventory filter selects the same workloads.
				inv, err := view.Images(cluster.ImageFilter{Namespace: "inventory", Image: &q})
				if err != nil {
					t.Fatal(err)
				}
				if len(inv) != len(tt.want) {
					t.Errorf("Images(image=%s) = %d workloads, want %d", tt.query, len(inv), len(tt.want))
				}
			})
		}
	})
}
