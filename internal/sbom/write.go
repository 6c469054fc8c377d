package sbom

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/kubeward/kubeward/internal/scan"
)

// Subject describes what an SBOM is about.
type Subject struct {
	// Name is the scanned target (a directory, an image archive, an SBOM).
	Name string
	// Tool is the producing tool and its version, e.g. "kubeward-v1.2.0".
	Tool string
	// Created is the document's creation time.
	Created time.Time
}

// documentID derives a stable UUID from the subject and packages, so the
// same scan yields the same document.
func documentID(s Subject, pkgs []scan.Package) uuid.UUID {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", s.Name, s.Created.UTC().Format(time.RFC3339))
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", p.Ecosystem, p.Name, p.Version, p.PURL, p.Location)
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, h.Sum(nil))
}

// WriteCycloneDX writes pkgs as a CycloneDX 1.6 JSON BOM: one library
// component per package with its purl, and the file or layer it was found
// in as an evidence occurrence.
func WriteCycloneDX(w io.Writer, s Subject, pkgs []scan.Package) error {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + documentID(s, pkgs).String()
	bom.Metadata = &cdx.Metadata{
		Timestamp: s.Created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "kubeward", Version: s.Tool,
		}}},
		Component: &cdx.Component{BOMRef: "subject", Type: cdx.ComponentTypeApplication, Name: s.Name},
	}
	comps := make([]cdx.Component, 0, len(pkgs))
	for i, p := range pkgs {
		c := cdx.Component{
			BOMRef:     "pkg-" + strconv.Itoa(i+1),
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
		}
		var occ []cdx.EvidenceOccurrence
		for _, loc := range []string{p.Location, p.Layer} {
			if loc != "" {
				occ = append(occ, cdx.EvidenceOccurrence{Location: loc})
			}
		}
		if len(occ) > 0 {
			c.Evidence = &cdx.Evidence{Occurrences: &occ}
		}
		comps = append(comps, c)
	}
	bom.Components = &comps
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("write CycloneDX SBOM: %w", err)
	}
	return nil
}

// WriteSPDX writes pkgs as an SPDX 2.3 JSON document that DESCRIBES one
// package per scan package, each with its purl as a PACKAGE-MANAGER
// external reference.
func WriteSPDX(w io.Writer, s Subject, pkgs []scan.Package) error {
	id := documentID(s, pkgs)
	doc := &v2_3.Document{
		SPDXVersion:       v2_3.Version,
		DataLicense:       v2_3.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      s.Name,
		DocumentNamespace: "https://kubeward.dev/spdx/" + id.String(),
		CreationInfo: &v2_3.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "kubeward-" + s.Tool}},
			Created:  s.Created.UTC().Format(time.RFC3339),
		},
	}
	for i, p := range pkgs {
		sp := &v2_3.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   common.ElementID("Package-" + strconv.Itoa(i+1)),
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			FilesAnalyzed:           false,
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*v2_3.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: p.PURL,
			}}
		}
		if p.Location != "" {
			sp.PackageSourceInfo = "found in " + p.Location
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
			RefA:         common.MakeDocElementID("", "DOCUMENT"),
			RefB:         common.MakeDocElementID("", string(sp.PackageSPDXIdentifier)),
			Relationship: common.TypeRelationshipDescribe,
		})
	}
	if err := spdxjson.Write(doc, w, spdxjson.Indent("  ")); err != nil {
		return fmt.Errorf("write SPDX SBOM: %w", err)
	}
	return nil
}
