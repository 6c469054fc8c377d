// Package sbom reads software bills of materials (CycloneDX JSON, SPDX 2.3
// JSON) into scan packages and writes a scan's packages as CycloneDX 1.6 or
// SPDX 2.3 JSON. Decoding and encoding use the formats' reference Go
// libraries (github.com/CycloneDX/cyclonedx-go, github.com/spdx/tools-golang);
// package URLs are read with osv-scalibr's purl package.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/vulndb"
)

// Format names an SBOM format.
type Format string

// Supported formats.
const (
	CycloneDX Format = "cyclonedx"
	SPDX      Format = "spdx"
)

// MaxSize is the largest SBOM Read accepts, in bytes.
const MaxSize = 256 << 20

// ErrMalformed is wrapped by every error about the content of an SBOM.
var ErrMalformed = errors.New("malformed SBOM")

// Document is what Read found in an SBOM.
type Document struct {
	// Format is the format the document was written in.
	Format Format
	// Packages are the components or packages that carry a valid package
	// URL, in document order.
	Packages []scan.Package
	// Skipped counts components or packages without a usable package URL
	// (no purl, or one that does not parse); they cannot be matched.
	Skipped int
}

// Read decodes a CycloneDX JSON (any 1.x) or SPDX 2.x JSON document,
// telling them apart by their bomFormat / spdxVersion fields.
func Read(r io.Reader) (Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return Document{}, fmt.Errorf("read SBOM: %w", err)
	}
	if len(data) > MaxSize {
		readErrors.WithLabelValues("unknown").Inc()
		return Document{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxSize)
	}
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		readErrors.WithLabelValues("unknown").Inc()
		return Document{}, fmt.Errorf("%w: not a JSON object (want CycloneDX or SPDX JSON): %w", ErrMalformed, err)
	}
	switch {
	case head.BOMFormat == "CycloneDX":
		return ReadCycloneDX(data)
	case strings.HasPrefix(head.SPDXVersion, "SPDX-2."):
		return ReadSPDX(data)
	default:
		readErrors.WithLabelValues("unknown").Inc()
		return Document{}, fmt.Errorf(`%w: neither "bomFormat": "CycloneDX" nor "spdxVersion": "SPDX-2.x" (bomFormat %q, spdxVersion %q)`, ErrMalformed, head.BOMFormat, head.SPDXVersion)
	}
}

// ReadCycloneDX decodes a CycloneDX JSON document; nested components are
// included, the metadata component (the SBOM's subject) is not.
func ReadCycloneDX(data []byte) (Document, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		readErrors.WithLabelValues(string(CycloneDX)).Inc()
		return Document{}, fmt.Errorf("%w: CycloneDX JSON: %w", ErrMalformed, err)
	}
	doc := Document{Format: CycloneDX}
	var walk func([]cdx.Component)
	walk = func(cs []cdx.Component) {
		for _, c := range cs {
			doc.add(c.PackageURL, c.Name, c.Version)
			if c.Components != nil {
				walk(*c.Components)
			}
		}
	}
	if bom.Components != nil {
		walk(*bom.Components)
	}
	return doc, nil
}

// ReadSPDX decodes an SPDX 2.x JSON document (older minor versions are
// converted to 2.3 by tools-golang). A package's purl is its external
// reference of type "purl".
func ReadSPDX(data []byte) (Document, error) {
	sd, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		readErrors.WithLabelValues(string(SPDX)).Inc()
		return Document{}, fmt.Errorf("%w: SPDX JSON: %w", ErrMalformed, err)
	}
	doc := Document{Format: SPDX}
	if sd == nil {
		return doc, nil
	}
	for _, p := range sd.Packages {
		if p == nil {
			continue
		}
		ref := ""
		for _, er := range p.PackageExternalReferences {
			if er != nil && er.RefType == "purl" {
				ref = er.Locator
				break
			}
		}
		doc.add(ref, p.PackageName, p.PackageVersion)
	}
	return doc, nil
}

// add appends the package named by ref. The document's own spelling of
// the name is kept when it is the same name under the ecosystem's rules
// (a PyPI purl writes "aspy-yaml" for "aspy.yaml"), and its version is
// used when the purl has none.
func (d *Document) add(ref, name, version string) {
	if ref == "" {
		d.Skipped++
		skippedComponents.WithLabelValues(string(d.Format)).Inc()
		return
	}
	p, err := PackageFromPURL(ref)
	if err != nil {
		d.Skipped++
		skippedComponents.WithLabelValues(string(d.Format)).Inc()
		return
	}
	if p.Version == "" {
		p.Version = version
	}
	if name != "" && name != p.Name && vulndb.NormalizeName(p.Ecosystem, name) == vulndb.NormalizeName(p.Ecosystem, p.Name) {
		p.Name = name
	}
	d.Packages = append(d.Packages, p)
}

// ReadFile reads the CycloneDX or SPDX JSON SBOM at path (see Read); errors
// name the file and start with "scan sbom", as the scanner reports them.
func ReadFile(path string) (Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return Document{}, fmt.Errorf("scan sbom: %w", err)
	}
	defer f.Close()
	doc, err := Read(f)
	if err != nil {
		return Document{}, fmt.Errorf("scan sbom %s: %w", path, err)
	}
	return doc, nil
}
