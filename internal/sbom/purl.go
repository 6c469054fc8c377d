package sbom

import (
	"fmt"
	"strings"

	"github.com/google/osv-scalibr/purl"
	purlecosystem "github.com/google/osv-scalibr/purl/ecosystem"

	"github.com/kubeward/kubeward/internal/scan"
)

// languageEcosystems maps package URL types to OSV ecosystems for the
// language package managers; OS package types (apk, deb) carry their
// distribution release in the "distro" qualifier and are mapped by
// osv-scalibr's purl/ecosystem package.
var languageEcosystems = map[string]string{
	purl.TypeGolang:   "Go",
	purl.TypePyPi:     "PyPI",
	purl.TypeNPM:      "npm",
	purl.TypeCargo:    "crates.io",
	purl.TypeMaven:    "Maven",
	purl.TypeGem:      "RubyGems",
	purl.TypeNuget:    "NuGet",
	purl.TypeComposer: "Packagist",
	purl.TypeHex:      "Hex",
	purl.TypePub:      "Pub",
	purl.TypeHackage:  "Hackage",
	purl.TypeCran:     "CRAN",
}

// PackageFromPURL reads a package URL into a package: its name as the
// ecosystem spells it (Go module paths and npm scopes include the
// namespace, Maven uses group:artifact), its version and its OSV
// ecosystem. For apk and deb packages the source package (the "origin"
// or "upstream" qualifier, "source" for deb) becomes Origin. A purl of a
// type without an OSV ecosystem yields a package with an empty Ecosystem,
// which the matcher skips.
func PackageFromPURL(s string) (scan.Package, error) {
	p, err := purl.FromString(s)
	if err != nil {
		return scan.Package{}, fmt.Errorf("%w: package URL %q: %w", ErrMalformed, s, err)
	}
	if p.Name == "" {
		return scan.Package{}, fmt.Errorf("%w: package URL %q has no name", ErrMalformed, s)
	}
	pkg := scan.Package{Name: p.Name, Version: p.Version, PURL: s}
	q := map[string]string{}
	for _, kv := range p.Qualifiers {
		q[kv.Key] = kv.Value
	}
	switch p.Type {
	case purl.TypeApk, purl.TypeDebian:
		pkg.Ecosystem = purlecosystem.FromPURL(&p).String()
		for _, k := range []string{"origin", "upstream", "source"} {
			if v := q[k]; v != "" {
				// syft writes upstream=name or upstream=name@version.
				pkg.Origin, _, _ = strings.Cut(v, "@")
				break
			}
		}
		if pkg.Origin == pkg.Name {
			pkg.Origin = ""
		}
	case purl.TypeMaven:
		pkg.Ecosystem = languageEcosystems[p.Type]
		if p.Namespace != "" {
			pkg.Name = p.Namespace + ":" + p.Name
		}
	default:
		pkg.Ecosystem = languageEcosystems[p.Type]
		if p.Namespace != "" {
			pkg.Name = p.Namespace + "/" + p.Name
		}
	}
	return pkg, nil
}
