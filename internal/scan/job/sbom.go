package job

import (
	"context"
	"log/slog"

	"github.com/kubeward/kubeward/internal/sbom"
	"github.com/kubeward/kubeward/internal/scan"
)

// SBOMInventory reads the packages of the CycloneDX or SPDX JSON SBOM at
// path (see sbom.Read). Entries without a usable package URL cannot be
// matched; their number is logged.
func SBOMInventory(_ context.Context, path string, log *slog.Logger) ([]scan.Package, error) {
	doc, err := sbom.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if doc.Skipped > 0 && log != nil {
		log.Warn("scan: SBOM entries without a usable package URL cannot be matched", "format", doc.Format, "skipped", doc.Skipped)
	}
	return doc.Packages, nil
}
