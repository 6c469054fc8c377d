// Package scan inventories software (lockfiles, OS package databases,
// container images), matches it against a kubeward vulnerability database
// with each ecosystem's own version ordering, and reports findings.
//
// Entry points:
//   - ScanImage(ctx, source, matcher, ImageOptions) scans one image
//     source — a registry reference, a `docker save` archive, an OCI
//     layout directory or a tar of one — and returns a Report. It is the
//     call for services (the scans API): an uploaded archive is saved to
//     a file and its path passed as source; set ImageOptions.Offline where
//     the process must not reach registries (registry references then fail
//     with ErrOffline before any network call), and ImageOptions.Limits to
//     bound what one image may unpack (ErrUnpackLimit).
//   - ImageInventory is the same without matching; Inventory lists the
//     packages of a directory; Matcher.Match turns packages into findings.
//   - Report.WriteJSON, WriteTable and WriteSARIF render results.
package scan

// Package is one installed or locked package.
type Package struct {
	// Name is the package name as its ecosystem spells it.
	Name string `json:"name"`
	// Version is the installed or locked version.
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem ("Go", "PyPI", "Alpine:v3.10", …).
	Ecosystem string `json:"ecosystem"`
	// Origin is the source package an OS package was built from (the apk
	// origin, the dpkg source); distro advisories are keyed by it. Empty
	// for language packages.
	Origin string `json:"origin,omitempty"`
	// Location is the file the package was found in, relative to the
	// scanned root.
	Location string `json:"location,omitempty"`
	// Layer is the digest of the image layer that added the package, when
	// the scan target is an image.
	Layer string `json:"layer,omitempty"`
	// PURL is the package URL, when the extractor can form one.
	PURL string `json:"purl,omitempty"`
}

// advisoryName is the name advisories for p are keyed by.
func (p Package) advisoryName() string {
	if p.Origin != "" {
		return p.Origin
	}
	return p.Name
}
