// Package kubetest starts a real Kubernetes control plane (kube-apiserver
// and etcd, built from Go modules by scripts/envtest-assets.sh and cached
// outside the repository) for integration tests, through controller-runtime's
// envtest. There is no controller-manager: Deployments get no Pods unless a
// test creates them.
//
// A test that cannot start the control plane fails; it never skips.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubernetesVersion is the version of the assets the harness uses.
const KubernetesVersion = "1.37.2"

// Options adjust the control plane.
type Options struct {
	// APIServerFlags are extra kube-apiserver flags (name without dashes →
	// value), e.g. "audit-policy-file", "audit-log-path".
	APIServerFlags map[string]string
	// CRDDirectoryPaths are loaded as CustomResourceDefinitions at start.
	CRDDirectoryPaths []string
	// WebhookInstall, when set, lets envtest serve admission webhooks
	// (ValidatingWebhookConfigurations it installs on start).
	WebhookInstall *envtest.WebhookInstallOptions
}

// Cluster is a running control plane.
type Cluster struct {
	// Config reaches the apiserver as an administrator.
	Config *rest.Config
	// Client is a typed clientset for Config.
	Client *kubernetes.Clientset
	// Env is the underlying envtest environment.
	Env *envtest.Environment
}

// AssetsDir returns the directory holding kube-apiserver and etcd:
// $KUBEBUILDER_ASSETS when set, else the cache that
// scripts/envtest-assets.sh fills (building the assets if they are missing).
func AssetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	cache := os.Getenv("KUBEWARD_ENVTEST_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("kubetest: find home directory: %w", err)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "kubeward", "envtest")
	}
	dir := filepath.Join(cache, KubernetesVersion)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	script, err := findScript()
	if err != nil {
		return "", err
	}
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		return "", fmt.Errorf("kubetest: %s failed (build the assets by hand to see why): %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "envtest-assets.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("kubetest: scripts/envtest-assets.sh not found above the test's directory")
		}
		dir = parent
	}
}

// Start starts a control plane and stops it when the test ends. It fails
// the test when the control plane cannot start.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	assets, err := AssetsDir()
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if opts.WebhookInstall != nil {
		env.WebhookInstallOptions = *opts.WebhookInstall
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	for k, v := range opts.APIServerFlags {
		args.Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		tb.Fatalf("kubetest: start kube-apiserver and etcd from %s: %v", assets, err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Logf("kubetest: stop control plane: %v", err)
		}
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatalf("kubetest: clientset: %v", err)
	}
	return &Cluster{Config: cfg, Client: cs, Env: env}
}

// WaitFor polls cond every 100ms until it returns true or an error, or
// until ctx ends.
func WaitFor(ctx context.Context, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
