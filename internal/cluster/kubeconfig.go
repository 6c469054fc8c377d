package cluster

import (
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Clients are the Kubernetes clients kubeward's response and cluster
// features use.
type Clients struct {
	// Config is the resolved REST configuration.
	Config *rest.Config
	// Client is the typed clientset.
	Client kubernetes.Interface
	// Dynamic serves unstructured objects (NetworkPolicies, Tetragon and
	// Envoy Gateway policies).
	Dynamic dynamic.Interface
}

// Connect builds clients with client-go's default loading rules: the
// kubeconfig file named by path when set, else $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account. context, when set,
// overrides the kubeconfig's current context.
func Connect(path, context string) (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes config: %w (give --kubeconfig, set KUBECONFIG, or run in a cluster)", err)
	}
	return NewClients(cfg)
}

// NewClients builds the clients for cfg.
func NewClients(cfg *rest.Config) (*Clients, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client for %s: %w", cfg.Host, err)
	}
	return &Clients{Config: cfg, Client: cs, Dynamic: dyn}, nil
}
