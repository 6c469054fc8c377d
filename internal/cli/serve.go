package cli

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/detect"
	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/detect/httpingest"
	"github.com/kubeward/kubeward/internal/server"
	"github.com/kubeward/kubeward/internal/workers"
)

func init() { register(newServeCmd) }

// Roles `kubeward serve --role` accepts.
const (
	roleAll       = "all"
	roleAPI       = "api"
	roleIngest    = "ingest"
	roleDetector  = "detector"
	roleAdmission = "admission"
	roleFlow      = "flow-sensor"
)

type serveOptions struct {
	listen         string
	role           string
	drainTimeout   time.Duration
	grace          time.Duration
	feed           feedFlags
	detectRules    []string
	admission      admissionFlags
	flowSensor     flowSensorFlags
	alerts         alertFlags
	api            apiFlags
	response       responseFlags
	scans          scanServiceFlags
	eventRetention time.Duration
}

func newServeCmd(app *App) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run kubeward: API, consumers and feed followers (all-in-one by default)",
		Long: `Run kubeward as a long-lived service.

With no flags it runs every role in one process on the embedded default:
a SQLite file under the user's data directory, the in-process bus and the
API on 127.0.0.1:8080. --role splits the work for fleets:

  all       API + consumers + feed followers + detection endpoints (default)
  api       the API and probes only (stateless, scale horizontally)
  ingest    bus consumers (a Kafka consumer group) and feed followers
  detector  the detection endpoints only (stateless): POST /k8s-audit takes
            the apiserver's audit webhook backend, POST /falco takes Falco's
            http_output; detections are published on the bus
  admission the validating admission webhook only (stateless, TLS on
            --admission-listen, default :8443); violations go on the bus
  flow-sensor  per-node packet capture (--flow-interface) → CICFlowMeter
            features → classifier (--flow-model) → anomalies on the bus;
            and/or Hubble flow JSON (--hubble-file) → per-pod windows →
            detector → anomalies on the bus

On SIGINT/SIGTERM it stops taking work, drains the bus (waits up to
--drain-timeout for consumers to handle and commit what was published),
then exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the HTTP listener (API, /healthz, /readyz, /metrics)")
	f.StringVar(&o.role, "role", roleAll, "what this process runs: all, api, ingest, detector, admission or flow-sensor")
	f.StringArrayVar(&o.detectRules, "detect-rules", nil, "Falco rules file for the detection endpoints (repeatable; e.g. the upstream k8s_audit_rules.yaml); kubeward's Tetragon rules are always loaded")
	f.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Second, "how long shutdown waits for consumers to catch up")
	f.DurationVar(&o.grace, "shutdown-grace", 10*time.Second, "how long shutdown waits for in-flight HTTP requests")
	o.feed.bind(f)
	o.admission.bind(f)
	o.flowSensor.bind(f)
	o.scans.bind(f)
	o.alerts.bind(f)
	o.api.bind(f)
	o.response.bind(f)
	f.DurationVar(&o.eventRetention, "event-retention", eventstore.DefaultRetention, "how long detections are kept for GET /api/v1/events (0: forever)")
	return cmd
}

func runServe(ctx context.Context, app *App, o serveOptions) error {
	switch o.role {
	case roleAll, roleAPI, roleIngest, roleDetector, roleAdmission, roleFlow:
	default:
		return fmt.Errorf("--role %q: want all, api, ingest, detector, admission or flow-sensor", o.role)
	}
	stateless := o.role == roleDetector || o.role == roleAdmission || o.role == roleFlow
	if stateless && app.InProcess() {
		// Nothing in this process consumes what the role publishes, so an
		// in-process bus would only fill up and then block requests.
		return fmt.Errorf("--role %s publishes to the bus for other processes: use --bus kafka://host:port (or --role all for a single process)", o.role)
	}
	if o.role == roleAdmission && o.admission.listen == "" {
		o.admission.listen = ":8443"
	}
	log := app.Logger.With("role", o.role)
	b, err := app.OpenBus(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	srv := server.New(o.listen, log)
	if o.role == roleAll || o.role == roleDetector {
		if err := mountDetection(app, srv, b, o.detectRules); err != nil {
			return err
		}
	}
	if stateless {
		return serveStateless(ctx, app, o, srv, b)
	}

	st, err := app.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	srv.AddCheck(server.Check{Name: "store", Check: st.Ping})
	if err := srv.Listen(); err != nil {
		return err
	}
	// Released on any failure below before serving starts.
	defer srv.Close()

	al, err := o.alerts.build(ctx, app, st)
	if err != nil {
		return err
	}
	// Consumers run on their own context: at shutdown they keep going
	// until the bus is drained.
	var consumers *workers.Set
	var cctx context.Context
	if o.role == roleAPI {
		consumers, cctx = newWorkerSet(context.WithoutCancel(ctx), app)
	} else {
		consumers, cctx = startConsumerSet(context.WithoutCancel(ctx), app, st, b, newIngestConsumer(app, st), al)
	}
	// Producers stop with the signal.
	producers, pctx := newWorkerSet(ctx, app)
	if o.role == roleAll {
		if err := o.admission.start(pctx, producers, app, b); err != nil {
			consumers.Stop()
			return err
		}
	}
	if o.role != roleAPI {
		if es, ok := st.(interface{ Events() eventstore.Store }); ok && o.eventRetention > 0 {
			producers.Go(pctx, "event-retention", eventstore.Retention{Store: es.Events(), Keep: o.eventRetention, Logger: log}.Run)
		}
		if err := o.feed.start(pctx, producers, app, st, b); err != nil {
			consumers.Stop()
			return err
		}
	}
	if o.role != roleIngest {
		respondRoutes, err := o.response.start(pctx, producers, app, st, b)
		if err != nil {
			producers.Stop()
			consumers.Stop()
			return err
		}
		o.scans.view = o.response.view // nil without a cluster
		scanRoutes, err := o.scans.start(pctx, producers, app, st, b)
		if err != nil {
			producers.Stop()
			consumers.Stop()
			return err
		}
		extra := slices.Concat(api.AlertRoutes(al.service, log), respondRoutes, scanRoutes)
		if es, ok := st.(interface{ Events() eventstore.Store }); ok {
			extra = append(extra, api.EventRoutes(es.Events(), log)...)
		}
		a, err := o.api.server(pctx, app, st, o.listen, producers, extra)
		if err != nil {
			producers.Stop()
			consumers.Stop()
			return err
		}
		srv.Handle("/api/v1/", a.Handler())
		o.api.protectMetrics(srv, a)
	}
	log.Info("kubeward serving", "db", st.Backend(), "bus", app.Bus)

	srvCtx, srvStop := context.WithCancel(ctx)
	defer srvStop()
	go func() {
		select {
		case <-consumers.Failed():
		case <-producers.Failed():
		case <-srvCtx.Done():
		}
		srvStop()
	}()
	serveErr := srv.Serve(srvCtx, o.grace)

	// Shutdown: producers first, then drain, then consumers.
	perr := producers.Stop()
	if d, ok := b.(bus.Drainer); ok && o.role != roleAPI {
		dctx, cancel := context.WithTimeout(cctx, o.drainTimeout)
		if err := d.WaitIdle(dctx); err != nil {
			log.Warn("bus not drained before shutdown; unhandled messages stay uncommitted and are redelivered on the next start (Kafka) or lost (in-process bus)", "err", err)
		} else {
			log.Info("bus drained")
		}
		cancel()
	}
	cerr := consumers.Stop()
	if err := errors.Join(serveErr, perr, cerr); err != nil {
		return err
	}
	log.Info("kubeward stopped")
	return nil
}

// mountDetection serves the audit webhook backend at /k8s-audit and Falco's
// http_output at /falco, publishing detections on the bus.
func mountDetection(app *App, srv *server.Server, b bus.Publisher, files []string) error {
	rf := ruleFlags{files: files, builtin: true, minPriority: "debug"}
	engine, err := rf.engine(app)
	if err != nil {
		return fmt.Errorf("detection rules: %w", err)
	}
	p := &detect.Pipeline{Engine: engine, Publisher: b}
	srv.Handle("POST /k8s-audit", httpingest.NewAuditWebhook(p, app.Logger))
	srv.Handle("POST /falco", httpingest.NewFalcoReceiver(p, app.Logger))
	return nil
}

// serveStateless runs a role that keeps no state: the detection endpoints
// or the admission webhook, publishing to the bus.
func serveStateless(ctx context.Context, app *App, o serveOptions, srv *server.Server, b bus.Bus) error {
	set, wctx := newWorkerSet(ctx, app)
	var err error
	switch o.role {
	case roleAdmission:
		err = o.admission.start(wctx, set, app, b)
	case roleFlow:
		err = o.flowSensor.start(wctx, set, app, b)
	}
	if err != nil {
		set.Stop()
		return err
	}
	if err := srv.Listen(); err != nil {
		set.Stop()
		return err
	}
	app.Logger.Info("kubeward serving", "role", o.role, "bus", app.Bus)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-set.Failed():
		case <-sctx.Done():
		}
		stop()
	}()
	serveErr := srv.Serve(sctx, o.grace)
	return errors.Join(serveErr, set.Stop())
}
