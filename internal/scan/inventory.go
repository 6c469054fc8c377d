package scan

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"regexp"
	"sort"
	"sync"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gomod"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagelockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/pipfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/poetrylock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/requirements"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargolock"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	scalibrfs "github.com/google/osv-scalibr/fs"
	"github.com/google/osv-scalibr/plugin"
	"github.com/google/osv-scalibr/stats"
)

// extractorFactories are the osv-scalibr extractors kubeward runs, one per
// supported lockfile or package database format.
var extractorFactories = []func(*cpb.PluginConfig) (filesystem.Extractor, error){
	gomod.New,
	packagelockjson.New,
	pipfilelock.New,
	poetrylock.New,
	requirements.New,
	cargolock.New,
	apk.New,
	dpkg.New,
}

// skipDirs matches directories that are never descended into: they hold
// fetched dependencies or VCS data, not the project's own manifests.
var skipDirs = regexp.MustCompile(`(^|/)(\.git|node_modules)$`)

// Inventory walks root and returns the packages found in the lockfiles and
// OS package databases under it, sorted by ecosystem, name and version.
// Files are read through an os.Root, so symbolic links that lead outside
// root (an unpacked image's absolute links, say) are not followed. Files an
// extractor cannot parse are logged and counted, not fatal.
func Inventory(ctx context.Context, root string, log *slog.Logger) ([]Package, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("inventory %s: not a directory (pass the directory that holds the lockfile)", root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", root, err)
	}
	defer r.Close()
	pkgs, err := inventoryRoot(ctx, r, log)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", root, err)
	}
	inventoryPackages.Add(float64(len(pkgs)))
	return pkgs, nil
}

// inventoryRoot runs the extractors over the tree of r.
func inventoryRoot(ctx context.Context, r *os.Root, log *slog.Logger) ([]Package, error) {
	scalibrLog.set(log)
	exs, err := extractors()
	if err != nil {
		return nil, err
	}
	fsys, ok := r.FS().(scalibrfs.FS)
	if !ok {
		return nil, fmt.Errorf("os.Root file system lacks ReadDir or Stat")
	}
	inv, statuses, err := filesystem.Run(ctx, &filesystem.Config{
		Extractors:   exs,
		ScanRoots:    []*scalibrfs.ScanRoot{{FS: fsys, Path: r.Name()}},
		SkipDirRegex: skipDirs,
		Stats:        stats.NoopCollector{},
	})
	if err != nil {
		return nil, err
	}
	reportStatuses(log, statuses)
	pkgs := make([]Package, 0, len(inv.Packages))
	for _, p := range inv.Packages {
		pkg := fromScalibr(p)
		if isGoDirective(pkg) {
			log.Debug("scan: ignoring the go directive of go.mod (a minimum language version, not the toolchain in use)", "file", pkg.Location, "version", pkg.Version)
			continue
		}
		pkgs = append(pkgs, pkg)
	}
	sortPackages(pkgs)
	return pkgs, nil
}

// extractors returns the osv-scalibr extractors, constructed on first use
// and shared afterwards: they hold configuration only, and building them
// for every inventory (every changed image layer) is wasted work.
var extractors = sync.OnceValues(func() ([]filesystem.Extractor, error) {
	exs := make([]filesystem.Extractor, 0, len(extractorFactories))
	for _, f := range extractorFactories {
		ex, err := f(&cpb.PluginConfig{})
		if err != nil {
			return nil, fmt.Errorf("set up extractor: %w", err)
		}
		exs = append(exs, ex)
	}
	return exs, nil
})

func reportStatuses(log *slog.Logger, statuses []*plugin.Status) {
	for _, s := range statuses {
		if s.Status == nil {
			continue
		}
		for _, fe := range s.Status.FileErrors {
			inventoryFileErrors.WithLabelValues(s.Name).Inc()
			log.Warn("scan: could not extract packages from file", "extractor", s.Name, "file", fe.FilePath, "err", fe.ErrorMessage)
		}
		if s.Status.Status == plugin.ScanStatusFailed && len(s.Status.FileErrors) == 0 {
			log.Warn("scan: extractor failed", "extractor", s.Name, "reason", s.Status.FailureReason)
		}
	}
}

func fromScalibr(p *extractor.Package) Package {
	out := Package{
		Name:      p.Name,
		Version:   p.Version,
		Ecosystem: p.Ecosystem().String(),
	}
	out.Location = p.Location.PathOrEmpty()
	switch m := p.Metadata.(type) {
	case *apkmeta.Metadata:
		out.Origin = m.OriginName
	case *dpkgmeta.Metadata:
		out.Origin = m.SourceName
	}
	if pu := p.PURL(); pu != nil {
		out.PURL = pu.String()
	}
	return out
}

// isGoDirective reports whether p is the "stdlib" or "toolchain" pseudo
// package osv-scalibr derives from a go.mod go/toolchain line. The go line
// states the minimum language version, not the Go release a program is
// built with, so matching it against standard library advisories reports
// vulnerabilities of a toolchain nobody may be using; binaries, which
// record their real toolchain, are the place to check the standard library.
func isGoDirective(p Package) bool {
	return p.Ecosystem == "Go" && (p.Name == "stdlib" || p.Name == "toolchain") && path.Base(p.Location) == "go.mod"
}

func sortPackages(pkgs []Package) {
	sort.SliceStable(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Location < b.Location
	})
}
