package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeward/kubeward/internal/kubetest"
)

// actionID returns the ID column of the first row of printActions output.
func actionID(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("no action printed: %q", out)
	}
	return strings.Fields(lines[1])[0]
}

func TestRespondBanListUnban(t *testing.T) {
	db := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	base := []string{"--db", db, "--log-level", "warn", "respond", "--actor", "tester"}
	if _, code := run(t, append(base, "ban", "203.0.113.9", "--ttl", "2h")...); code == ExitOK {
		t.Fatal("ban without --reason succeeded")
	}
	out, code := run(t, append(base, "ban", "203.0.113.9", "--ttl", "2h", "--reason", "stuffing")...)
	if code != ExitOK || !strings.Contains(out, "applied") {
		t.Fatalf("ban = %d: %s", code, out)
	}
	id := actionID(t, out)
	out, _ = run(t, append(base, "list")...)
	if !strings.Contains(out, id) || !strings.Contains(out, "Ip//203.0.113.9") {
		t.Fatalf("list does not show the ban %s: %s", id, out)
	}
	if key, code := run(t, append(base, "add-bouncer", "nginx")...); code != ExitOK || len(strings.TrimSpace(key)) < 16 {
		t.Fatalf("add-bouncer = %d: %q", code, key)
	}
	if _, code := run(t, append(base, "unban", "203.0.113.10", "--reason", "x")...); code == ExitOK {
		t.Error("unban of an address that is not banned succeeded")
	}
	out, code = run(t, append(base, "unban", "::ffff:203.0.113.9", "--reason", "false positive")...)
	if code != ExitOK || !strings.Contains(out, "reverted") || actionID(t, out) != id {
		t.Fatalf("unban = %d: %s", code, out)
	}
	if out, _ = run(t, append(base, "list")...); strings.Contains(out, id) {
		t.Errorf("reverted ban still listed as live: %s", out)
	}
	if out, _ = run(t, append(base, "list", "--all")...); !strings.Contains(out, "reverted") {
		t.Errorf("list --all does not show the reverted ban: %s", out)
	}
}

// TestRespondRateLimitWithKubeconfig rate-limits an Ingress of a real
// apiserver through --kubeconfig, then reverts it.
func TestRespondRateLimitWithKubeconfig(t *testing.T) {
	kc := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	if _, err := kc.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pt := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		}}}}},
	}
	if _, err := kc.Client.NetworkingV1().Ingresses("shop").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := kc.Config
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"test": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"test": {ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}},
		Contexts:       map[string]*clientcmdapi.Context{"test": {Cluster: "test", AuthInfo: "test"}},
		CurrentContext: "test",
	}, kubeconfig); err != nil {
		t.Fatal(err)
	}
	rps := func() string {
		got, err := kc.Client.NetworkingV1().Ingresses("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Annotations["nginx.ingress.kubernetes.io/limit-rps"]
	}
	db := "sqlite://" + filepath.Join(t.TempDir(), "k.db")
	base := []string{"--db", db, "--log-level", "warn", "respond", "--kubeconfig", kubeconfig, "--reason", "flood"}
	out, code := run(t, append(base, "ratelimit", "shop/web", "--rps", "7", "--dry-run")...)
	if code != ExitOK || !strings.Contains(out, "dry-run") || rps() != "" {
		t.Fatalf("dry run = %d, limit-rps %q: %s", code, rps(), out)
	}
	out, code = run(t, append(base, "ratelimit", "shop/web", "--rps", "7", "--ttl", "10m")...)
	if code != ExitOK || rps() != "7" {
		t.Fatalf("ratelimit = %d, limit-rps %q: %s", code, rps(), out)
	}
	out, code = run(t, append(base, "revert", actionID(t, out))...)
	if code != ExitOK || !strings.Contains(out, "reverted") || rps() != "" {
		t.Fatalf("revert = %d, limit-rps %q: %s", code, rps(), out)
	}

	// A controller started with --annotations-prefix=ingress.example.com.
	customRPS := func() string {
		got, err := kc.Client.NetworkingV1().Ingresses("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Annotations["ingress.example.com/limit-rps"]
	}
	custom := append(base, "--ingress-annotation-prefix", "ingress.example.com")
	out, code = run(t, append(custom, "ratelimit", "shop/web", "--rps", "9", "--ttl", "10m")...)
	if code != ExitOK || customRPS() != "9" || rps() != "" {
		t.Fatalf("ratelimit with a custom prefix = %d, ingress.example.com/limit-rps %q, nginx.ingress.kubernetes.io/limit-rps %q: %s", code, customRPS(), rps(), out)
	}
	out, code = run(t, append(base, "revert", actionID(t, out))...) // reverts the names it set, whatever the flag says now
	if code != ExitOK || customRPS() != "" {
		t.Fatalf("revert = %d, ingress.example.com/limit-rps %q: %s", code, customRPS(), out)
	}
	var stdout, stderr bytes.Buffer
	code = Execute(ctx, append(base, "--ingress-annotation-prefix", "Not/A/Prefix", "ratelimit", "shop/web", "--rps", "9"), &stdout, &stderr)
	if code != ExitError || !strings.Contains(stderr.String(), "--ingress-annotation-prefix") || customRPS() != "" {
		t.Fatalf("bad prefix = %d, want %d and a message naming the flag: %s", code, ExitError, stderr.String())
	}
}
