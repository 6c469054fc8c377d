package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
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

Each --osv location holds OSV records, one per *.json/*.yaml file, of any
ecosystem; each --alpine location holds an Alpine secdb tree (vX.Y/main.yaml,
…). A location is a directory, a .tar.gz/.tgz/.tar/.zip archive or a file, or
an http(s) URL of an archive, which is downloaded (its SHA-256 is recorded in
the manifest). The output is replaced atomically; a failed build leaves an
existing database untouched. FILE.manifest.json is written next to the
database: publish both, and "kubeward db import" verifies one against the
other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(filepath.Dir(opts.Out), 0o755); err != nil {
				return fmt.Errorf("db build: %w", err)
			}
			start := time.Now()
			o := opts
			done := withDBProgress(app, &o)
			man, err := vulndb.Build(cmd.Context(), o)
			done()
			if err != nil {
				return err
			}
			printSources(app.Out, man)
			fmt.Fprintf(app.Out, "wrote %s: %d advisories in %s\n", opts.Out, man.Advisories, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	build.Flags().StringSliceVar(&opts.OSV, "osv", nil, "OSV record location (directory, archive, file or http(s) URL); repeatable")
	build.Flags().StringSliceVar(&opts.Alpine, "alpine", nil, "Alpine secdb location (directory, archive or http(s) URL); repeatable")
	build.Flags().StringVar(&opts.Out, "out", defaultVulnDB(), "database file to write")

	var upd vulndb.BuildOptions
	var updPath string
	update := &cobra.Command{
		Use:   "update",
		Short: "Update the vulnerability database incrementally from its sources",
		Long: `Read the database's sources again (those recorded in its manifest, or the
--osv/--alpine locations given) and rewrite only the advisory records whose
content changed, add new ones and delete those no source has any more, in one
transaction; then rewrite the manifest. Prints what changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			o := upd
			done := withDBProgress(app, &o)
			man, stats, err := vulndb.Update(cmd.Context(), updPath, o)
			done()
			if err != nil {
				return err
			}
			printSources(app.Out, man)
			fmt.Fprintf(app.Out, "updated %s in %s: %d added, %d updated, %d deleted, %d unchanged (%d advisories)\n",
				updPath, time.Since(start).Round(time.Millisecond), stats.Added, stats.Updated, stats.Deleted, stats.Unchanged, man.Advisories)
			return nil
		},
	}
	update.Flags().StringSliceVar(&upd.OSV, "osv", nil, "OSV record location replacing those of the manifest; repeatable")
	update.Flags().StringSliceVar(&upd.Alpine, "alpine", nil, "Alpine secdb location replacing those of the manifest; repeatable")
	update.Flags().StringVar(&updPath, "vulndb", defaultVulnDB(), "database file to update")

	var imp vulndb.ImportOptions
	importCmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Verify a published vulnerability database and install it",
		Long: `Verify FILE against its manifest (FILE.manifest.json, or --manifest): size and
SHA-256 of the file, the manifest stored inside the database, and SQLite's
integrity check; only then replace the database (--out) atomically. A refused
import leaves the installed database untouched.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			imp.File = args[0]
			if err := os.MkdirAll(filepath.Dir(imp.Out), 0o755); err != nil {
				return fmt.Errorf("db import: %w", err)
			}
			man, err := vulndb.Import(cmd.Context(), imp)
			if err != nil {
				return err
			}
			printSources(app.Out, man)
			fmt.Fprintf(app.Out, "imported %s into %s: %d advisories built %s\n", imp.File, imp.Out, man.Advisories, man.BuiltAt.Format(time.RFC3339))
			return nil
		},
	}
	importCmd.Flags().StringVar(&imp.Manifest, "manifest", "", "manifest file (default FILE.manifest.json)")
	importCmd.Flags().StringVar(&imp.Out, "out", defaultVulnDB(), "database file to replace")

	cmd.AddCommand(build, update, importCmd)
	return cmd
}

func printSources(w io.Writer, man vulndb.Manifest) {
	for _, s := range man.Sources {
		fmt.Fprintf(w, "%-13s %6d records %4d rejected  %s\n", s.Kind, s.Records, s.Rejected, s.Location)
	}
}

// withDBProgress sets o's logger and, on a terminal, progress bars for
// downloads and source files; the returned func clears the last bar.
func withDBProgress(app *App, o *vulndb.BuildOptions) func() {
	o.Logger = app.Logger
	bars := newBytesProgress(app.Out, app.Err)
	if bars == nil {
		return func() {}
	}
	o.Download = func(u string, _ int64) io.Writer { return bars.start("download " + u) }
	cur := ""
	o.Progress = func(kind, loc string, files int) {
		if loc != cur {
			cur = loc
			bars.startCount(kind + " " + loc)
		}
		bars.set(files)
	}
	return bars.finish
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
		Use:   "image REF|ARCHIVE|LAYOUT",
		Short: "Scan an image from a registry, a `docker save` archive or an OCI layout, layer by layer",
		Long: `Scan the image that the argument names:
  - a registry reference (registry.example/repo:tag or repo@sha256:…), pulled
    with the credentials of the default keychain (docker config, credential
    helpers); --platform picks the image of a multi-platform index;
  - a "docker save" archive (tar or tar.gz);
  - an OCI image layout directory, or a tar (or tar.gz) of one.
The layers are streamed in order (only package databases, lockfiles and
os-release are unpacked, never outside a private scratch directory); the
packages of the final filesystem are listed with the layer that added each and
matched against the vulnerability database. Layers that decompress beyond
--max-image-bytes or --max-image-files are refused.

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
	imgOpts := bindImageFlags(image)
	bindScan(app, fs, func(ctx context.Context, arg string, _ bool) ([]scan.Package, error) {
		return scan.Inventory(ctx, arg, app.Logger)
	})
	bindScan(app, image, func(ctx context.Context, arg string, offline bool) ([]scan.Package, error) {
		opts := *imgOpts
		opts.Offline = offline
		opts.Logger = app.Logger
		if bars := newBytesProgress(app.Out, app.Err); bars != nil {
			opts.LayerProgress = bars.layer
			defer bars.finish()
		}
		return scan.ImageInventory(ctx, arg, opts)
	})
	bindScan(app, sbomCmd, func(ctx context.Context, arg string, _ bool) ([]scan.Package, error) {
		return sbomInventory(ctx, arg, app.Logger)
	})
	cmd.AddCommand(fs, image, sbomCmd)
	return cmd
}

// bindImageFlags gives `scan image` its image-source flags.
func bindImageFlags(cmd *cobra.Command) *scan.ImageOptions {
	opts := &scan.ImageOptions{}
	f := cmd.Flags()
	f.StringVar(&opts.Platform, "platform", "", "platform of a multi-platform image to scan, os/arch[/variant] (default linux/<this machine's architecture>)")
	f.BoolVar(&opts.InsecureRegistry, "insecure-registry", false, "allow plain HTTP to the registry of the reference (loopback and private addresses use HTTP without it)")
	f.Int64Var(&opts.Limits.MaxBytes, "max-image-bytes", scan.DefaultUnpackLimits.MaxBytes, "refuse images whose layers decompress to more bytes than this (decompression bombs)")
	f.Int64Var(&opts.Limits.MaxFiles, "max-image-files", scan.DefaultUnpackLimits.MaxFiles, "refuse images whose layers hold more entries than this")
	return opts
}

// scanGCPercent and scanMemoryLimit are the GOGC and GOMEMLIMIT values
// scan commands run with.
const (
	scanGCPercent   = 400
	scanMemoryLimit = 64 << 20
)

// bindScan gives a scan subcommand its flags and a RunE that inventories
// its argument with inventory, matches and reports.
func bindScan(app *App, cmd *cobra.Command, inventory func(ctx context.Context, arg string, offline bool) ([]scan.Package, error)) {
	var dbPath, failOn string
	var enrich, offline bool
	var vexFiles []string
	var ignoreFile string
	out := newOutputFlag(cmd.Flags(), "table", "table", "json", "sarif", string(sbom.CycloneDX), string(sbom.SPDX))
	cmd.Flags().BoolVar(&offline, "offline", false, "make no network call: registry references are refused, --enrich only reads a SQLite store")
	cmd.Flags().Lookup("output").Usage += " (cyclonedx and spdx write the scanned packages as an SBOM: CycloneDX 1.6 or SPDX 2.3 JSON)"
	cmd.Flags().StringVar(&dbPath, "vulndb", defaultVulnDB(), "vulnerability database built by `kubeward db build`")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when a finding has at least this severity: low, medium, high, critical or unknown (every finding)")
	cmd.Flags().BoolVar(&enrich, "enrich", false, "add CVSS, KEV, EPSS and SSVC from the kubeward store (--db) to each finding, through its CVE aliases")
	cmd.Flags().StringSliceVar(&vexFiles, "vex", nil, "OpenVEX JSON document: findings it declares not_affected or fixed for the package's purl are suppressed; repeatable")
	cmd.Flags().StringVar(&ignoreFile, "ignore-file", "", "file of advisory IDs to suppress, one per line (CVE, GHSA, GO, PYSEC… IDs or aliases; # comments)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// A scan is a short process whose live heap stays small (layers
		// are streamed): collecting less often cuts its CPU time by about
		// a sixth (perf stat, scan fs of the shared Pipfile.lock), and the
		// soft memory limit makes the collector work harder again before
		// the heap of a large image scan grows past it.
		defer debug.SetGCPercent(debug.SetGCPercent(scanGCPercent))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(scanMemoryLimit))
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
		if offline && enrich && !strings.HasPrefix(app.DB, "sqlite:") {
			return fmt.Errorf("--offline --enrich: the store %q is reached over the network; use a sqlite:// store or drop --enrich: %w", app.DB, scan.ErrOffline)
		}
		ctx := cmd.Context()
		db, err := vulndb.Open(ctx, dbPath)
		if err != nil {
			return err
		}
		defer db.Close()
		pkgs, err := inventory(ctx, args[0], offline)
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
		case "sarif":
			err = rep.WriteSARIF(app.Out, Version)
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
	doc, err := sbom.ReadFile(path)
	if err != nil {
		return nil, err
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

// bytesProgress draws one byte-count progress bar per image layer (or per
// downloaded source) on stderr when stderr is a terminal; otherwise it is
// nil and draws nothing, so CI logs stay clean.
type bytesProgress struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func newBytesProgress(_, stderr io.Writer) *bytesProgress {
	if !isTerminal(stderr) {
		return nil
	}
	return &bytesProgress{out: stderr}
}

// layer starts the bar of layer index of count and returns the writer the
// layer's bytes are copied to.
func (p *bytesProgress) layer(index, count int, digest string, _ int64) io.Writer {
	return p.start(fmt.Sprintf("[%d/%d] layer %s", index+1, count, shortDigest(digest)))
}

// start finishes the current bar and starts one described by desc.
func (p *bytesProgress) start(desc string) io.Writer {
	if p == nil {
		return io.Discard
	}
	p.finish()
	p.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(p.out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return p.bar
}

// startCount starts a bar that counts files instead of bytes.
func (p *bytesProgress) startCount(desc string) {
	p.finish()
	p.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(p.out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// set moves the current bar to n.
func (p *bytesProgress) set(n int) {
	if p.bar != nil {
		_ = p.bar.Set64(int64(n))
	}
}

func (p *bytesProgress) finish() {
	if p == nil || p.bar == nil {
		return
	}
	_ = p.bar.Finish()
	p.bar = nil
}

func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}
