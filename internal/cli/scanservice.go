package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/exposure"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/vulndb"
	"github.com/kubeward/kubeward/internal/workers"
)

// scanServiceFlags configure the scan service behind POST /api/v1/scans.
type scanServiceFlags struct {
	vulndb    string
	workers   int
	queue     int
	maxUpload int64
	spoolDir  string
	offline   bool

	// clusterScanEvery and clusterScanMax configure the periodic scan of
	// the images the cluster runs.
	clusterScanEvery time.Duration
	clusterScanMax   int
	// view is the cluster view (nil without a cluster); serve sets it to
	// the response flags' view before start. With it, start runs the
	// periodic cluster image scanner and serves
	// GET /api/v1/cluster/vulnerabilities.
	view *cluster.View
}

func (f *scanServiceFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.vulndb, "vulndb", defaultVulnDB(), "vulnerability database (`kubeward db build`) the scan API matches against; when the file is missing, POST /api/v1/scans answers 503")
	fs.IntVar(&f.workers, "scan-workers", job.DefaultWorkers, "scans run at once by the scan API")
	fs.IntVar(&f.queue, "scan-queue", job.DefaultQueueSize, "scans waiting for a worker before POST /api/v1/scans answers 429")
	fs.Int64Var(&f.maxUpload, "scan-max-upload", job.DefaultMaxUploadBytes, "largest archive, OCI layout or SBOM upload in bytes")
	fs.StringVar(&f.spoolDir, "scan-spool-dir", "", "directory for uploads until scanned; it must belong to this server alone (leftovers of a crash are removed); default: the system temp dir")
	fs.BoolVar(&f.offline, "scan-offline", false, "refuse image references that need a registry pull (uploads only)")
	fs.DurationVar(&f.clusterScanEvery, "cluster-scan-interval", exposure.DefaultInterval, "how often the images the cluster runs are scanned (those without a done scan younger than this); 0: off")
	fs.IntVar(&f.clusterScanMax, "cluster-scan-max", exposure.DefaultMaxPerRound, "most image scans one cluster scan round submits; the rest wait for the next round")
}

// start builds the scan service on st, recovers scans a crash left
// unfinished, runs its workers in set and returns its routes. Without a
// vulnerability database, or on a store without scan tables, the routes
// answer 503 and the reason is logged. With a cluster view it also runs
// the periodic cluster image scanner and serves the vulnerable workloads
// route (503 without a cluster or without scanning).
func (f *scanServiceFlags) start(ctx context.Context, set *workers.Set, app *App, st store.Store, pub bus.Publisher) ([]api.Route, error) {
	log := app.Logger.With("component", "scan")
	// Bad settings are refused whether or not scanning can run now, so a
	// mistake does not surface only once a database is built.
	if f.clusterScanEvery < 0 {
		return nil, fmt.Errorf("--cluster-scan-interval %s: want 0 (periodic cluster scans off) or a positive interval such as 6h", f.clusterScanEvery)
	}
	if f.clusterScanMax < 1 {
		return nil, fmt.Errorf("--cluster-scan-max %d: want at least 1 image scan per round", f.clusterScanMax)
	}
	ss, ok := st.(interface{ Scans() job.Store })
	if !ok {
		log.Warn("the store keeps no scans: the scan API is off", "backend", st.Backend())
		return f.routes(log, nil), nil
	}
	if _, err := os.Stat(f.vulndb); errors.Is(err, fs.ErrNotExist) {
		log.Warn("no vulnerability database: the scan API answers 503 until one is built (kubeward db build) and the server restarted", "vulndb", f.vulndb)
		return f.routes(log, nil), nil
	}
	db, err := vulndb.Open(ctx, f.vulndb)
	if err != nil {
		return nil, fmt.Errorf("--vulndb: %w", err)
	}
	var enricher scan.Enricher
	if g, ok := st.(scan.CVEGetter); ok {
		enricher = scan.NewStoreEnricher(g, log)
	}
	svc, err := job.New(job.Config{
		Store:          ss.Scans(),
		Matcher:        &scan.Matcher{DB: db, Log: log},
		Enricher:       enricher,
		Publisher:      pub,
		Inventories:    job.DefaultInventories(scan.ImageOptions{Offline: f.offline}),
		Workers:        f.workers,
		QueueSize:      f.queue,
		MaxUploadBytes: f.maxUpload,
		SpoolDir:       f.spoolDir,
		Logger:         log,
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("scan service: %w", err)
	}
	if err := svc.Recover(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("scan service: recover unfinished scans: %w", err)
	}
	set.Go(ctx, "scan-workers", func(ctx context.Context) error {
		defer db.Close()
		return svc.Run(ctx)
	})
	log.Info("scan API ready", "vulndb", f.vulndb, "workers", f.workers, "offline", f.offline)
	switch {
	case f.view == nil || f.clusterScanEvery == 0:
		// no cluster, or the periodic scan is off
	case f.offline:
		log.Info("cluster image scanner off: --scan-offline refuses the registry pulls it needs")
	default:
		scanner, err := exposure.NewScanner(exposure.ScannerConfig{Inventory: f.view, Scans: svc, Interval: f.clusterScanEvery, MaxPerRound: f.clusterScanMax, Logger: log})
		if err != nil {
			return nil, err
		}
		set.Go(ctx, "cluster-image-scanner", scanner.Run)
		log.Info("cluster image scanner running", "interval", f.clusterScanEvery, "max_per_round", f.clusterScanMax)
	}
	return f.routes(log, svc), nil
}

// routes are the scan routes and the vulnerable workloads route over svc
// (nil: scanning is off, both answer 503).
func (f *scanServiceFlags) routes(log *slog.Logger, svc *job.Service) []api.Route {
	vulns := api.ClusterVulnDeps{Logger: log}
	if svc != nil && f.view != nil {
		vulns.Finder = exposure.NewFinder(f.view, svc)
	}
	deps := api.ScanDeps{Logger: log}
	if svc != nil {
		deps.Service = svc
	}
	return slices.Concat(api.ScanRoutes(deps), api.ClusterVulnRoutes(vulns))
}
