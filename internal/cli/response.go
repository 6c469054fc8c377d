package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/alert/source"
	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/policy/audit"
	"github.com/kubeward/kubeward/internal/policy/packs"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/auto"
	"github.com/kubeward/kubeward/internal/respond/executors"
	"github.com/kubeward/kubeward/internal/respond/ingressnginx"
	"github.com/kubeward/kubeward/internal/server"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/workers"
)

// responseFlags configure the cluster connection and the response side of
// serve: actions, their reconciler, and the CrowdSec-compatible Local API.
type responseFlags struct {
	kubeconfig              string
	kubeContext             string
	lapiListen              string
	auditEvery              time.Duration
	policyCfg               string
	respondRules            string
	ingressAnnotationPrefix string

	// view is the cluster view start built (nil without a cluster): the
	// image inventory the scanner asks which workloads run an image
	// (View.WorkloadsRunning).
	view *cluster.View
}

func (f *responseFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for the cluster kubeward watches and acts on (default: $KUBECONFIG, ~/.kube/config, then in-cluster; none found: bans only)")
	fs.StringVar(&f.kubeContext, "kube-context", "", "kubeconfig context (default: the current one)")
	fs.StringVar(&f.respondRules, "respond-rules", "", "YAML automatic response rules (which alerts trigger which action with which TTL); empty: off; rules only dry-run unless they say enforce: true")
	fs.DurationVar(&f.auditEvery, "policy-audit-interval", 10*time.Minute, "how often live objects are audited into PolicyReports (wgpolicyk8s.io/v1alpha2 CRDs must be installed); 0: off")
	fs.StringVar(&f.policyCfg, "policy-audit-config", "", "policy configuration for the background audit (packs, parameters, policies), as for `policy scan --policy-config`")
	fs.StringVar(&f.ingressAnnotationPrefix, "ingress-annotation-prefix", ingressnginx.DefaultAnnotationPrefix, "annotation prefix of the ingress-nginx controller (its --annotations-prefix) for rate-limit actions")
	fs.StringVar(&f.lapiListen, "lapi-listen", "", "address of the CrowdSec-compatible Local API for bouncers (GET /v1/decisions, /v1/decisions/stream with X-Api-Key), e.g. :8081; empty: off")
}

// start builds the response manager and its background loops in set and
// returns the API routes that expose them.
func (f *responseFlags) start(ctx context.Context, set *workers.Set, app *App, st store.Store, b bus.Bus) ([]api.Route, error) {
	dec, bouncers, actions, err := ResponseStores(st)
	if err != nil {
		return nil, err
	}
	if err := ingressnginx.CheckAnnotationPrefix(f.ingressAnnotationPrefix); err != nil {
		return nil, fmt.Errorf("--ingress-annotation-prefix: %w", err)
	}
	execOpts := executors.Options{IngressAnnotationPrefix: f.ingressAnnotationPrefix}
	var view *cluster.View
	execs, err := executors.All(nil, nil, dec, execOpts)
	if err != nil {
		return nil, err
	}
	clients, kerr := cluster.Connect(f.kubeconfig, f.kubeContext)
	switch {
	case kerr != nil && f.kubeconfig != "":
		return nil, fmt.Errorf("--kubeconfig: %w", kerr)
	case kerr != nil:
		app.Logger.Info("no Kubernetes cluster configured: cluster view and Kubernetes actions are off, IP bans work", "reason", kerr)
	default:
		if execs, err = executors.All(clients.Client, clients.Dynamic, dec, execOpts); err != nil {
			return nil, fmt.Errorf("--ingress-annotation-prefix: %w", err)
		}
		view = cluster.New(clients.Client, 10*time.Minute)
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := view.Start(sctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("watch the cluster: %w", err)
		}
		if f.auditEvery > 0 {
			if err := f.startAudit(ctx, set, app, clients); err != nil {
				return nil, err
			}
		}
	}
	f.view = view
	mgr := respond.NewManager(actions, execs, respond.Options{Logger: app.Logger})
	set.Go(ctx, "respond-reconciler", (&respond.Reconciler{Manager: mgr, Logger: app.Logger}).Run)
	if f.respondRules != "" {
		if err := startAutoRespond(ctx, set, app, mgr, b, f.respondRules); err != nil {
			return nil, err
		}
	}
	set.Go(ctx, "crowdsec-janitor", (&crowdsec.Janitor{Store: dec, Logger: app.Logger}).Run)
	if f.lapiListen != "" {
		if err := serveLAPI(ctx, set, app, f.lapiListen, crowdsec.NewHandler(dec, bouncers, crowdsec.Options{Logger: app.Logger})); err != nil {
			return nil, err
		}
	}
	return api.RespondRoutes(api.RespondDeps{Manager: mgr, View: view, Decisions: dec, Bouncers: bouncers, Logger: app.Logger}), nil
}

// serveLAPI serves the bouncers' Local API on its own listener: bouncers
// authenticate with their API keys, not with the console's tokens, and
// usually sit on another network path.
func serveLAPI(ctx context.Context, set *workers.Set, app *App, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--lapi-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	app.Logger.Info("CrowdSec-compatible Local API listening", "addr", ln.Addr().String())
	set.Go(ctx, "crowdsec-lapi", func(ctx context.Context) error {
		if err := server.ServeUntil(ctx, srv, ln, false, 5*time.Second); err != nil {
			return fmt.Errorf("local API: %w", err)
		}
		return nil
	})
	return nil
}

// startAudit runs the background audit of live objects into bounded
// PolicyReports.
func (f *responseFlags) startAudit(ctx context.Context, set *workers.Set, app *App, clients *cluster.Clients) error {
	var cfg packs.Config
	if f.policyCfg != "" {
		var err error
		if cfg, err = packs.ReadConfig(f.policyCfg); err != nil {
			return err
		}
	}
	engine, err := packs.Build(cfg)
	if err != nil {
		return err
	}
	a := audit.New(clients.Dynamic, engine, audit.Options{Logger: app.Logger})
	set.Go(ctx, "policy-audit", func(ctx context.Context) error { return a.Run(ctx, f.auditEvery) })
	return nil
}

// startAutoRespond consumes detections, violations, alerts and flow
// anomalies and applies the matching response rules (dry-run unless a rule
// enforces).
func startAutoRespond(ctx context.Context, set *workers.Set, app *App, mgr *respond.Manager, b bus.Bus, path string) error {
	rules, err := auto.LoadRules(path)
	if err != nil {
		return fmt.Errorf("--respond-rules: %w", err)
	}
	r, err := auto.New(mgr, rules, nil, app.Logger)
	if err != nil {
		return fmt.Errorf("--respond-rules: %w", err)
	}
	opts := auto.ConsumeOptions()
	if d, ok := b.(bus.GroupDeclarer); ok {
		if err := d.DeclareGroup(opts.Group, opts.Topics...); err != nil {
			return err
		}
	}
	h := auto.NewHandler(r, source.Converter{}, app.Logger)
	set.Go(ctx, "auto-respond", func(ctx context.Context) error { return b.Consume(ctx, opts, h) })
	app.Logger.Info("automatic response rules loaded", "rules", len(rules), "file", path)
	return nil
}
