package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeward/kubeward/internal/sbom"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/vulndb"
)

func init() {
	register(newDBCmd)
	register(newScanCmd)
}

// defaultVulnDB is the vulnerability database path `db build` writes and
// `scan` reads when --out/--vulndb are not given.
func defaultVulnDB() string {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "kubeward", "vuln.db")
}

func newDBCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Build and inspect the offline vulnerability database used by scan",
	}
	var opts vulndb.BuildOptions
	build := &cobra.Command{
		Use:   "build",
		Short: "Build the vulnerability database from OSV records and Alpine secdb files",
		Long: `Build one self-contained SQLite vulnerability database.

Each --osv location (a directory, a .tar.gz archive or a file) holds OSV
records, one per *.json/*.yaml file, of any ecosystem. Each --alpine location
holds an Alpine secdb tree (vX.Y/main.yaml, …). The output is replaced
atomically; a failed build leaves an existing database untouched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(filepath.Dir(opts.Out), 0o755); err != nil {
				return fmt.Errorf("db build: %w", err)
			}
			opts.Logger = app.Logger
			start := time.Now()
			man, err := vulndb.Build(cmd.Context(), opts)
			if err != nil {
				return err
			}
			for _, s := range man.Sources {
				fmt.Fprintf(app.Out, "%-13s %6d records %4d rejected  %s\n", s.Kind, s.Records, s.Rejected, s.Location)
			}
			fmt.Fprintf(app.Out, "wrote %s: %d advisories in %s\n", opts.Out, man.Advisories, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	build.Flags().StringSliceVar(&opts.OSV, "osv", nil, "OSV record location (directory, .tar.gz or file); repeatable")
	build.Flags().StringSliceVar(&opts.Alpine, "alpine", nil, "Alpine secdb location (directory or .tar.gz); repeatable")
	build.Flags().StringVar(&opts.Out, "out", defaultVulnDB(), "database file to write")
	cmd.AddCommand(build)
	return cmd
}

func newScanCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan filesystems, lockfiles and images for vulnerable packages",
	}
	fs := &cobra.Command{
		Use:   "fs DIR",
		Short: "Scan a directory's lockfiles and OS package databases",
		Long: `Walk DIR for lockfiles (go.mod, package-lock.json, Pipfile.lock, poetry.lock,
Cargo.lock, requirements*.txt) and OS package databases (apk, dpkg), and match
every package against the vulnerability database built by "kubeward db build".

Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage or runtime error.`,
		Args: cobra.ExactArgs(1),
	}
	image := &cobra.Command{
		Use:   "image ARCHIVE",
		Short: "Scan a `docker save` archive (tar or tar.gz), layer by layer",
		Long: `Unpack the layers of a "docker save" archive in order (only package databases,
lockfiles and os-release, never outside a private scratch directory), list the
packages of the final filesystem with the layer that added each, and match
them against the vulnerability database.

Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage or runtime error.`,
		Args: cobra.ExactArgs(1),
	}
	sbomCmd := &cobra.Command{
		Use:   "sbom FILE",
		Short: "Scan the packages of a CycloneDX or SPDX JSON SBOM",
		Long: `Read a CycloneDX JSON (1.x) or SPDX 2.x JSON document, take every component
or package that has a package URL (purl), and match it against the
vulnerability database. Components without a purl cannot be matched; their
number is logged.

Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage or runtime error.`,
		Args: cobra.ExactArgs(1),
	}
	bindScan(app, fs, scan.Inventory)
	bindScan(app, image, scan.ImageInventory)
	bindScan(app, sbomCmd, sbomInventory)
	cmd.AddCommand(fs, image, sbomCmd)
	return cmd
}

// bindScan gives a scan subcommand its flags and a RunE that inventories
// its argument with inventory, matches and reports.
func bindScan(app *App, cmd *cobra.Command, inventory func(context.Context, string, *slog.Logger) ([]scan.Package, error)) {
	var dbPath, failOn string
	var enrich bool
	var vexFiles []string
	var ignoreFile string
	out := newOutputFlag(cmd.Flags(), "table", "table", "json", string(sbom.CycloneDX), string(sbom.SPDX))
	cmd.Flags().Lookup("output").Usage += " (cyclonedx and spdx write the scanned packages as an SBOM: CycloneDX 1.6 or SPDX 2.3 JSON)"
	cmd.Flags().StringVar(&dbPath, "vulndb", defaultVulnDB(), "vulnerability database built by `kubeward db build`")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when a finding has at least this severity: low, medium, high, critical or unknown (every finding)")
	cmd.Flags().BoolVar(&enrich, "enrich", false, "add CVSS, KEV, EPSS and SSVC from the kubeward store (--db) to each finding, through its CVE aliases")
	cmd.Flags().StringSliceVar(&vexFiles, "vex", nil, "OpenVEX JSON document: findings it declares not_affected or fixed for the package's purl are suppressed; repeatable")
	cmd.Flags().StringVar(&ignoreFile, "ignore-file", "", "file of advisory IDs to suppress, one per line (CVE, GHSA, GO, PYSEC… IDs or aliases; # comments)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		threshold := scan.Level(-1)
		if failOn != "" {
			lvl, err := scan.ParseLevel(failOn)
			if err != nil {
				return fmt.Errorf("--fail-on: %w", err)
			}
			threshold = lvl
		}
		suppressors, err := loadSuppressors(vexFiles, ignoreFile)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		db, err := vulndb.Open(ctx, dbPath)
		if err != nil {
			return err
		}
		defer db.Close()
		pkgs, err := inventory(ctx, args[0], app.Logger)
		if err != nil {
			return err
		}
		findings, err := (&scan.Matcher{DB: db, Log: app.Logger}).Match(ctx, pkgs)
		if err != nil {
			return err
		}
		if enrich {
			if err := enrichFindings(ctx, app, findings); err != nil {
				return err
			}
		}
		open, suppressed := scan.ApplySuppressions(findings, suppressors...)
		rep := scan.Report{Packages: pkgs, Findings: open, Suppressed: suppressed}
		subject := sbom.Subject{Name: args[0], Tool: Version, Created: time.Now()}
		switch out.value {
		case "json":
			err = rep.WriteJSON(app.Out)
		case string(sbom.CycloneDX):
			err = sbom.WriteCycloneDX(app.Out, subject, pkgs)
		case string(sbom.SPDX):
			err = sbom.WriteSPDX(app.Out, subject, pkgs)
		default:
			err = rep.WriteTable(app.Out)
		}
		if err != nil {
			return err
		}
		if threshold >= 0 && rep.CountAtLeast(threshold) > 0 {
			return ErrFindings
		}
		return nil
	}
}

// enrichFindings adds what the kubeward store knows about findings' CVEs.
func enrichFindings(ctx context.Context, app *App, findings []scan.Finding) error {
	st, err := app.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("--enrich: %w", err)
	}
	defer st.Close()
	if err := scan.NewStoreEnricher(st, app.Logger).Enrich(ctx, findings); err != nil {
		return fmt.Errorf("--enrich: %w", err)
	}
	n := 0
	for _, f := range findings {
		if f.Enrichment != nil {
			n++
		}
	}
	// An empty or stale store enriches nothing; say so rather than
	// leaving the user to wonder.
	app.Logger.Info("scan: enriched findings from the CVE store", "store", st.Backend(), "enriched", n, "findings", len(findings))
	return nil
}

// sbomInventory reads the packages of the SBOM at path.
func sbomInventory(_ context.Context, path string, log *slog.Logger) ([]scan.Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scan sbom: %w", err)
	}
	defer f.Close()
	doc, err := sbom.Read(f)
	if err != nil {
		return nil, fmt.Errorf("scan sbom %s: %w", path, err)
	}
	if doc.Skipped > 0 {
		log.Warn("scan: SBOM entries without a usable package URL cannot be matched", "file", path, "format", doc.Format, "skipped", doc.Skipped)
	}
	for i := range doc.Packages {
		doc.Packages[i].Location = filepath.Base(path)
	}
	return doc.Packages, nil
}

// loadSuppressors reads the --vex documents and the --ignore-file.
func loadSuppressors(vexFiles []string, ignoreFile string) ([]scan.Suppressor, error) {
	var out []scan.Suppressor
	for _, path := range vexFiles {
		v, err := readSuppressor(path, "--vex", func(f *os.File) (scan.Suppressor, error) { return scan.ParseVEX(f, path) })
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if ignoreFile != "" {
		l, err := readSuppressor(ignoreFile, "--ignore-file", func(f *os.File) (scan.Suppressor, error) { return scan.ParseIgnoreFile(f, ignoreFile) })
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func readSuppressor(path, flag string, parse func(*os.File) (scan.Suppressor, error)) (scan.Suppressor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	s, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return s, nil
}
