package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/bus"
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
}

func (f *scanServiceFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.vulndb, "vulndb", defaultVulnDB(), "vulnerability database (`kubeward db build`) the scan API matches against; when the file is missing, POST /api/v1/scans answers 503")
	fs.IntVar(&f.workers, "scan-workers", job.DefaultWorkers, "scans run at once by the scan API")
	fs.IntVar(&f.queue, "scan-queue", job.DefaultQueueSize, "scans waiting for a worker before POST /api/v1/scans answers 429")
	fs.Int64Var(&f.maxUpload, "scan-max-upload", job.DefaultMaxUploadBytes, "largest archive, OCI layout or SBOM upload in bytes")
	fs.StringVar(&f.spoolDir, "scan-spool-dir", "", "directory for uploads until scanned; it must belong to this server alone (leftovers of a crash are removed); default: the system temp dir")
	fs.BoolVar(&f.offline, "scan-offline", false, "refuse image references that need a registry pull (uploads only)")
}

// start builds the scan service on st, recovers scans a crash left
// unfinished, runs its workers in set and returns its routes. Without a
// vulnerability database, or on a store without scan tables, the routes
// answer 503 and the reason is logged.
func (f *scanServiceFlags) start(ctx context.Context, set *workers.Set, app *App, st store.Store, pub bus.Publisher) ([]api.Route, error) {
	log := app.Logger.With("component", "scan")
	ss, ok := st.(interface{ Scans() job.Store })
	if !ok {
		log.Warn("the store keeps no scans: the scan API is off", "backend", st.Backend())
		return api.ScanRoutes(api.ScanDeps{Logger: log}), nil
	}
	if _, err := os.Stat(f.vulndb); errors.Is(err, fs.ErrNotExist) {
		log.Warn("no vulnerability database: the scan API answers 503 until one is built (kubeward db build) and the server restarted", "vulndb", f.vulndb)
		return api.ScanRoutes(api.ScanDeps{Logger: log}), nil
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
	return api.ScanRoutes(api.ScanDeps{Service: svc, Logger: log}), nil
}
