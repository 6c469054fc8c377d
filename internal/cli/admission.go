package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/admission/webhookcert"
	"github.com/kubeward/kubeward/internal/policy/packs"
	"github.com/kubeward/kubeward/internal/server"
	"github.com/kubeward/kubeward/internal/workers"
)

// admissionFlags configure the validating admission webhook of serve.
type admissionFlags struct {
	listen       string
	certDir      string
	dnsNames     []string
	namespace    string
	action       string
	policyConfig string
	bypass       bool
	bypassGroups []string
}

func (a *admissionFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&a.listen, "admission-listen", "", "TLS address of the validating admission webhook (POST "+admission.Path+"), e.g. :8443; empty: off (the admission role defaults to :8443)")
	fs.StringVar(&a.certDir, "admission-cert-dir", "", "directory of the webhook's CA and serving certificate, created and rotated by kubeward (default: next to the SQLite file, or ./webhook-certs)")
	fs.StringSliceVar(&a.dnsNames, "admission-dns-names", []string{"kubeward-webhook.kubeward.svc"}, "DNS names of the webhook's serving certificate (the Service's <name>.<namespace>.svc)")
	fs.StringVar(&a.namespace, "admission-namespace", "kubeward", "namespace kubeward runs in: never evaluated, like kube-system")
	fs.StringVar(&a.action, "admission-action", "warn", "what a failing policy does unless its configuration says otherwise: deny, warn or audit")
	fs.StringVar(&a.policyConfig, "admission-policy-config", "", "policy configuration file (packs, parameters, policies, per-policy actions), as for `policy scan --policy-config`")
	fs.BoolVar(&a.bypass, "admission-bypass", false, "emergency bypass: admit everything (violations are still recorded and published)")
	fs.StringSliceVar(&a.bypassGroups, "admission-bypass-groups", nil, "groups whose members may bypass one object with the annotation "+admission.AnnotationBypass)
}

// start serves the webhook over TLS in set until ctx ends.
func (a *admissionFlags) start(ctx context.Context, set *workers.Set, app *App, pub bus.Publisher) error {
	if a.listen == "" {
		return nil
	}
	var cfg packs.Config
	if a.policyConfig != "" {
		var err error
		if cfg, err = packs.ReadConfig(a.policyConfig); err != nil {
			return err
		}
	}
	engine, err := packs.Build(cfg)
	if err != nil {
		return err
	}
	action, err := policy.ParseAction(a.action)
	if err != nil {
		return fmt.Errorf("--admission-action: %w", err)
	}
	h, err := admission.NewHandler(admission.Config{
		Engine:        engine,
		DefaultAction: action,
		OwnNamespace:  a.namespace,
		Bypass:        a.bypass,
		BypassGroups:  a.bypassGroups,
		Publisher:     pub,
		Logger:        app.Logger,
	})
	if err != nil {
		return err
	}
	dir := a.certDir
	if dir == "" {
		dir = "webhook-certs"
		if path, ok := strings.CutPrefix(app.DB, "sqlite://"); ok {
			dir = filepath.Join(filepath.Dir(path), "webhook-certs")
		}
	}
	certs, err := webhookcert.NewManager(webhookcert.Options{Dir: dir, DNSNames: a.dnsNames}, app.Logger)
	if err != nil {
		return fmt.Errorf("admission webhook certificates: %w", err)
	}
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return fmt.Errorf("--admission-listen %s: %w", a.listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+admission.Path, h)
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         certs.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	app.Logger.Info("admission webhook listening", "addr", ln.Addr().String(), "path", admission.Path, "cert_dir", dir, "default_action", action, "bypass", a.bypass)
	set.Go(ctx, "admission-certs", func(ctx context.Context) error { return certs.Run(ctx, time.Hour) })
	set.Go(ctx, "admission-webhook", func(ctx context.Context) error {
		if err := server.ServeUntil(ctx, srv, ln, true, 5*time.Second); err != nil {
			return fmt.Errorf("admission webhook: %w", err)
		}
		return nil
	})
	return nil
}
