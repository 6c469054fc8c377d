package job

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/kubeward/kubeward/internal/sbom"
	"github.com/kubeward/kubeward/internal/scan"
)

// SBOMInventory reads the packages of the CycloneDX or SPDX JSON SBOM at
// path (see sbom.Read). Entries without a usable package URL cannot be
// matched; their number is logged.
func SBOMInventory(_ context.Context, path string, log *slog.Logger) ([]scan.Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scan sbom: %w", err)
	}
	defer f.Close()
	doc, err := sbom.Read(f)
	if err != nil {
		return nil, fmt.Errorf("scan sbom %s: %w", path, err)
	}
	if doc.Skipped > 0 && log != nil {
		log.Warn("scan: SBOM entries without a usable package URL cannot be matched", "format", doc.Format, "skipped", doc.Skipped)
	}
	return doc.Packages, nil
}
