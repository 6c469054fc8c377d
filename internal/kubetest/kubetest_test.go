package kubetest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestControlPlaneServesAPI(t *testing.T) {
	c := Start(t, Options{})
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubetest"}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, "kubetest", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get namespace: %v", err)
	}
	if got.UID == "" {
		t.Fatalf("namespace has no UID: the apiserver did not persist it")
	}
	if _, err := c.Client.Discovery().ServerVersion(); err != nil {
		t.Fatalf("server version: %v", err)
	}
}
