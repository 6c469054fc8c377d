package vulndb

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SecDB is one Alpine secdb file (for example v3.10/main.yaml): for each
// ORIGIN package, the release that fixed each vulnerability.
type SecDB struct {
	// DistroVersion is the Alpine branch, such as "v3.10".
	DistroVersion string `yaml:"distroversion"`
	// RepoName is the repository, such as "main" or "community".
	RepoName string `yaml:"reponame"`
	// Packages lists the origin packages with security fixes.
	Packages []SecDBPackage `yaml:"packages"`
}

// SecDBPackage is the secfixes list of one origin package.
type SecDBPackage struct {
	Pkg struct {
		// Name is the origin (source) package name.
		Name string `yaml:"name"`
		// SecFixes maps a fixed apk version to the IDs it fixes.
		SecFixes map[string][]string `yaml:"secfixes"`
	} `yaml:"pkg"`
}

var (
	branchPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	// vulnIDPattern accepts the identifiers secdb files carry: CVE IDs and a
	// few project-specific ones (XSA-123, GHSA-…, ZBX-…).
	vulnIDPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*-[A-Za-z0-9-]+$`)
)

// DecodeSecDB parses and validates one Alpine secdb YAML file.
func DecodeSecDB(data []byte) (*SecDB, error) {
	if len(data) > 64<<20 {
		return nil, fmt.Errorf("%w: secdb of %d bytes exceeds the 64 MiB limit", ErrInvalidRecord, len(data))
	}
	var db SecDB
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&db); err != nil {
		return nil, fmt.Errorf("%w: decode Alpine secdb YAML: %w", ErrInvalidRecord, err)
	}
	if !branchPattern.MatchString(db.DistroVersion) {
		return nil, fmt.Errorf("%w: Alpine secdb distroversion %q is not of the form vX.Y", ErrInvalidRecord, db.DistroVersion)
	}
	return &db, nil
}

// Advisories converts the secdb to OSV records, one per vulnerability ID,
// each affecting the origin packages of this branch with an ECOSYSTEM range
// fixed at the secfixes version. IDs are "ALPINE-<id>" with the original ID
// as alias, so they link to CVE, GHSA and other records. A fixed version of
// "0" means the package was never affected and yields no record. The result
// is sorted by ID; entries that name no vulnerability are skipped and
// counted in skipped.
func (db *SecDB) Advisories() (advs []*Advisory, skipped int) {
	ecosystem := "Alpine:" + db.DistroVersion
	byID := map[string]*Advisory{}
	for _, p := range db.Packages {
		name := strings.TrimSpace(p.Pkg.Name)
		if name == "" {
			skipped++
			continue
		}
		fixedVersions := make([]string, 0, len(p.Pkg.SecFixes))
		for v := range p.Pkg.SecFixes {
			fixedVersions = append(fixedVersions, v)
		}
		sort.Strings(fixedVersions)
		for _, fixed := range fixedVersions {
			fixed = strings.TrimSpace(fixed)
			for _, entry := range p.Pkg.SecFixes[fixed] {
				// Entries are sometimes "CVE-A TALOS-B" (one vulnerability
				// under two names) or carry comments.
				var ids []string
				for _, f := range strings.Fields(entry) {
					if vulnIDPattern.MatchString(f) {
						ids = append(ids, f)
					}
				}
				if len(ids) == 0 {
					skipped++
					continue
				}
				if fixed == "0" || fixed == "" {
					continue
				}
				id := ids[0]
				a := byID[id]
				if a == nil {
					a = &Advisory{ID: "ALPINE-" + id}
					byID[id] = a
				}
				for _, alias := range ids {
					if !slices.Contains(a.Aliases, alias) {
						a.Aliases = append(a.Aliases, alias)
					}
				}
				a.Affected = append(a.Affected, Affected{
					Package: Package{Ecosystem: ecosystem, Name: name},
					Ranges: []Range{{Type: RangeEcosystem, Events: []Event{
						{Introduced: "0"}, {Fixed: fixed},
					}}},
					DatabaseSpecific: map[string]any{"repository": db.RepoName},
				})
			}
		}
	}
	advs = make([]*Advisory, 0, len(byID))
	for _, a := range byID {
		advs = append(advs, a)
	}
	sort.Slice(advs, func(i, j int) bool { return advs[i].ID < advs[j].ID })
	return advs, skipped
}
