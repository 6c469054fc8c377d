package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/kubetest"
)

// TestClusterImagesAPI serves the image inventory of a real apiserver:
// bare Pods in two namespaces whose statuses (set through the status
// subresource) report image IDs; filters, paging and bad input.
func TestClusterImagesAPI(t *testing.T) {
	kc := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	const digest = "sha256:0f7a5d6c1c7e1d3b0d4b6bcd48b1b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2"
	pods := []struct{ ns, name, image, imageID string }{
		{"team-a", "web-1", "nginx:1.27", "docker.io/library/nginx@" + digest},
		{"team-a", "web-2", "nginx:1.27", "docker.io/library/nginx@" + digest},
		{"team-a", "cache", "redis:7.2", "docker.io/library/redis@sha256:1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001"},
		{"team-b", "web", "nginx:1.27", "docker.io/library/nginx@" + digest},
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := kc.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		pod, err := kc.Client.CoreV1().Pods(p.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: p.image}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Image: p.image, ImageID: p.imageID, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		if _, err := kc.Client.CoreV1().Pods(p.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := newRespondEnv(t, kc)

	type listing struct {
		Items  []cluster.WorkloadImages `json:"items"`
		Total  int                      `json:"total"`
		Limit  int                      `json:"limit"`
		Offset int                      `json:"offset"`
	}
	tests := []struct {
		query     string
		wantCode  int
		wantTotal int
		wantNames []string // namespace/name of the page's items
	}{
		{"namespace=team-a", http.StatusOK, 3, []string{"team-a/cache", "team-a/web-1", "team-a/web-2"}},
		{"namespace=team-a&limit=1&offset=1", http.StatusOK, 3, []string{"team-a/web-1"}},
		{"image=" + url.QueryEscape("docker.io/library/nginx:1.27"), http.StatusOK, 3, []string{"team-a/web-1", "team-a/web-2", "team-b/web"}},
		{"image=" + url.QueryEscape(digest) + "&namespace=team-b", http.StatusOK, 1, []string{"team-b/web"}},
		{"image=redis&namespace=team-a", http.StatusOK, 0, nil}, // redis:latest runs nowhere
		{"image=" + url.QueryEscape("Not A Reference!"), http.StatusBadRequest, 0, nil},
		{"limit=0", http.StatusBadRequest, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got listing
			code := e.call(t, http.MethodGet, "/api/v1/cluster/images?"+tt.query, "", nil, &got)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d", code, tt.wantCode)
			}
			if code != http.StatusOK {
				return
			}
			var names []string
			for _, w := range got.Items {
				names = append(names, w.Namespace+"/"+w.Name)
				if w.Kind != "Pod" || w.Pods != 1 || len(w.Running) != 1 || w.Running[0].Pods != 1 {
					t.Errorf("workload %+v: want one bare Pod running one image", w)
				}
			}
			if got.Total != tt.wantTotal || fmt.Sprint(names) != fmt.Sprint(tt.wantNames) {
				t.Errorf("total %d items %v, want %d %v", got.Total, names, tt.wantTotal, tt.wantNames)
			}
		})
	}
}
