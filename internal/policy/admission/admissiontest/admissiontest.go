// Package admissiontest registers an in-process validating admission
// webhook with a real control plane started by package kubetest, for
// integration tests of admission handlers.
//
// Start serves an http.Handler over TLS on 127.0.0.1 (a certificate from
// package webhookcert whose SAN is the loopback IP), registers a
// ValidatingWebhookConfiguration whose clientConfig.url points at it with
// the matching caBundle, and removes both when the test ends. The handler
// can be swapped at run time (SetHandler), so one registration serves tests
// of several configurations. WaitActive blocks until the apiserver really
// calls the webhook: it caches webhook configurations and picks up a new
// one shortly after it is created.
package admissiontest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/admission/webhookcert"
)

// DefaultRules sends CREATE and UPDATE of pods and of every pod-bearing
// workload kind to the webhook.
var DefaultRules = []admissionregistrationv1.RuleWithOperations{
	rule("", "v1", "pods"),
	rule("apps", "v1", "deployments", "statefulsets", "daemonsets", "replicasets"),
	rule("batch", "v1", "jobs", "cronjobs"),
}

func rule(group, version string, resources ...string) admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.NamespacedScope
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources, Scope: &scope,
		},
	}
}

// Options adjust the registration. Zero values take the defaults.
type Options struct {
	// Name of the ValidatingWebhookConfiguration and, suffixed with
	// ".kubeward.io", of its webhook (default "kubeward-admissiontest").
	Name string
	// Rules select the requests sent to the webhook (default DefaultRules).
	Rules []admissionregistrationv1.RuleWithOperations
	// FailurePolicy applies when the webhook cannot be reached (default
	// Ignore, as kubeward's chart installs it).
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds bounds one call (default 3).
	TimeoutSeconds int32
	// ExcludedNamespaces are left out by the namespaceSelector (default
	// kube-system).
	ExcludedNamespaces []string
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "kubeward-admissiontest"
	}
	if len(o.Rules) == 0 {
		o.Rules = DefaultRules
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = admissionregistrationv1.Ignore
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = 3
	}
	if len(o.ExcludedNamespaces) == 0 {
		o.ExcludedNamespaces = []string{"kube-system"}
	}
	return o
}

// Webhook is a handler served over TLS and registered with a cluster.
type Webhook struct {
	// Server serves the handler at admission.Path.
	Server *httptest.Server
	// URL is the clientConfig.url the apiserver calls.
	URL string
	// CABundle is the PEM bundle the configuration trusts.
	CABundle []byte
	// Configuration is the registered ValidatingWebhookConfiguration.
	Configuration *admissionregistrationv1.ValidatingWebhookConfiguration

	handler atomic.Pointer[http.Handler]
	calls   atomic.Int64
}

// Start serves h and registers it with cluster; both are removed when the
// test ends. It fails the test when either step fails.
func Start(tb testing.TB, cluster *kubetest.Cluster, h http.Handler, opts Options) *Webhook {
	tb.Helper()
	opts = opts.withDefaults()
	w := &Webhook{}
	w.SetHandler(h)
	certs, err := webhookcert.NewManager(webhookcert.Options{Dir: tb.TempDir(), DNSNames: []string{"127.0.0.1"}}, nil)
	if err != nil {
		tb.Fatalf("admissiontest: webhook certificate: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+admission.Path, func(rw http.ResponseWriter, r *http.Request) {
		w.calls.Add(1)
		(*w.handler.Load()).ServeHTTP(rw, r)
	})
	// The apiserver sends no SNI to an IP address, and StartTLS installs
	// httptest's own certificate, which crypto/tls then prefers over
	// GetCertificate: serve the manager's certificate explicitly.
	tlsCfg := certs.TLSConfig()
	cert, err := certs.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		tb.Fatalf("admissiontest: webhook certificate: %v", err)
	}
	tlsCfg.Certificates = []tls.Certificate{*cert}
	w.Server = httptest.NewUnstartedServer(mux)
	w.Server.TLS = tlsCfg
	w.Server.StartTLS()
	tb.Cleanup(w.Server.Close)
	w.URL = w.Server.URL + admission.Path
	w.CABundle = certs.CABundle()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := w.configuration(opts)
	created, err := cluster.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("admissiontest: register ValidatingWebhookConfiguration %s: %v", cfg.Name, err)
	}
	w.Configuration = created
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cluster.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, created.Name, metav1.DeleteOptions{})
		if err != nil {
			tb.Logf("admissiontest: delete ValidatingWebhookConfiguration %s: %v", created.Name, err)
		}
	})
	return w
}

func (w *Webhook) configuration(opts Options) *admissionregistrationv1.ValidatingWebhookConfiguration {
	sideEffects := admissionregistrationv1.SideEffectClassNone
	failurePolicy := opts.FailurePolicy
	timeout := opts.TimeoutSeconds
	url := w.URL
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    opts.Name + ".kubeward.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: w.CABundle},
			Rules:                   slices.Clone(opts.Rules),
			FailurePolicy:           &failurePolicy,
			SideEffects:             &sideEffects,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: slices.Clone(opts.ExcludedNamespaces),
			}}},
		}},
	}
}

// SetHandler replaces the handler that answers the apiserver; requests in
// flight finish with the previous one.
func (w *Webhook) SetHandler(h http.Handler) { w.handler.Store(&h) }

// Calls returns how many reviews the webhook has received.
func (w *Webhook) Calls() int64 { return w.calls.Load() }

// Stop closes the server, as if the webhook process had died; the
// registration stays, so the cluster applies its failurePolicy.
func (w *Webhook) Stop() { w.Server.Close() }

// WaitActive blocks until the apiserver calls the webhook: it dry-run
// creates a probe Pod in namespace (which must exist and be selected by
// the configuration) until the webhook sees a review, polling until ctx
// ends. The probe's admission decision does not matter.
func (w *Webhook) WaitActive(ctx context.Context, client kubernetes.Interface, namespace string) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "admissiontest-probe", Namespace: namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
	}
	err := kubetest.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		before := w.Calls()
		// A denial or an unreachable webhook is expected here: only
		// whether the webhook was called matters.
		_, _ = client.CoreV1().Pods(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return w.Calls() > before, nil
	})
	if err != nil {
		return fmt.Errorf("admissiontest: the apiserver never called webhook %s (is namespace %s selected?): %w", w.URL, namespace, err)
	}
	return nil
}

// Warnings is a rest.WarningHandlerWithContext that keeps the warnings the apiserver
// returns (admission webhook warnings among them).
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (r *Warnings) HandleWarningHeaderWithContext(_ context.Context, code int, _ string, message string) {
	if code != 299 || message == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, message)
}

// Take returns the warnings received since the last call and forgets them.
func (r *Warnings) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// ClientWithWarnings returns a clientset for cfg whose warnings are kept
// in the returned Warnings instead of being logged.
func ClientWithWarnings(tb testing.TB, cfg *rest.Config) (*kubernetes.Clientset, *Warnings) {
	tb.Helper()
	w := &Warnings{}
	c := rest.CopyConfig(cfg)
	c.WarningHandler = nil
	c.WarningHandlerWithContext = w
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		tb.Fatalf("admissiontest: clientset: %v", err)
	}
	return cs, w
}
