package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"

	"github.com/kubeward/kubeward/internal/vulndb"
)

// Finding is one vulnerable package.
type Finding struct {
	Package Package `json:"package"`
	// AdvisoryID is the matched record's ID.
	AdvisoryID string `json:"advisory_id"`
	// Aliases are the other IDs of the same vulnerability (CVE, GHSA, GO,
	// PYSEC…), including those of merged duplicate records.
	Aliases []string `json:"aliases,omitempty"`
	// Summary is the record's summary, if any.
	Summary string `json:"summary,omitempty"`
	// FixedVersions are the versions that fix the vulnerability for the
	// installed version; empty when no fix is known.
	FixedVersions []string `json:"fixed_versions,omitempty"`
	Severity      Severity `json:"severity"`
	// Enrichment is what an Enricher added (CVSS, KEV, EPSS, SSVC); nil
	// when the scan was not enriched or the source knows none of the IDs.
	Enrichment *Enrichment `json:"enrichment,omitempty"`
	// Suppression is set on suppressed findings (Report.Suppressed): why a
	// VEX document or an ignore file took the finding out.
	Suppression *Suppression `json:"suppression,omitempty"`
}

// Matcher matches packages against a vulnerability database.
type Matcher struct {
	// DB is the advisory database.
	DB *vulndb.DB
	// Log receives one warning per version that cannot be compared; nil
	// means slog.Default().
	Log *slog.Logger
}

// Match returns the findings for pkgs, sorted by package and advisory ID.
// Records that describe the same vulnerability under different IDs
// (linked by aliases) yield one finding per package.
func (m *Matcher) Match(ctx context.Context, pkgs []Package) ([]Finding, error) {
	log := m.Log
	if log == nil {
		log = slog.Default()
	}
	type key struct{ eco, name string }
	cache := map[key][]vulndb.Candidate{}
	var out []Finding
	for _, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.Version == "" || p.Ecosystem == "" {
			continue
		}
		k := key{p.Ecosystem, p.advisoryName()}
		cands, ok := cache[k]
		if !ok {
			var err error
			if cands, err = m.DB.Lookup(ctx, k.eco, k.name); err != nil {
				return nil, fmt.Errorf("match %s %s: %w", p.Name, p.Version, err)
			}
			cache[k] = cands
		}
		var found []Finding
		for _, c := range cands {
			hit, fixed, err := Affects(c.Affected, p.Version)
			if err != nil && errors.Is(err, ErrUnsupportedVersion) {
				matchErrors.WithLabelValues(p.Ecosystem).Inc()
				log.Warn("scan: cannot compare versions; advisory entry skipped", "package", p.Name, "version", p.Version, "advisory", c.AdvisoryID, "err", err)
			}
			if !hit {
				continue
			}
			aliases, err := m.DB.Aliases(ctx, c.AdvisoryID, c.Aliases)
			if err != nil {
				return nil, fmt.Errorf("match %s %s: %w", p.Name, p.Version, err)
			}
			found = append(found, Finding{
				Package:       p,
				AdvisoryID:    c.AdvisoryID,
				Aliases:       aliases,
				Summary:       c.Summary,
				FixedVersions: fixed,
				Severity:      severityOf(c),
			})
		}
		out = append(out, mergeAliased(found)...)
	}
	return out, nil
}

// mergeAliased folds findings for one package whose IDs or aliases overlap
// into the finding with the smallest ID, keeping the union of aliases and
// fixed versions and the worst severity.
func mergeAliased(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].AdvisoryID < fs[j].AdvisoryID })
	names := func(f Finding) []string { return append([]string{f.AdvisoryID}, f.Aliases...) }
	var out []Finding
	for _, f := range fs {
		merged := false
		for i := range out {
			if !overlaps(names(out[i]), names(f)) {
				continue
			}
			o := &out[i]
			for _, n := range names(f) {
				if n != o.AdvisoryID && !slices.Contains(o.Aliases, n) {
					o.Aliases = append(o.Aliases, n)
				}
			}
			slices.Sort(o.Aliases)
			for _, v := range f.FixedVersions {
				if !slices.Contains(o.FixedVersions, v) {
					o.FixedVersions = append(o.FixedVersions, v)
				}
			}
			if f.Severity.Level > o.Severity.Level {
				o.Severity = f.Severity
			}
			merged = true
			break
		}
		if !merged {
			out = append(out, f)
		}
	}
	return out
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
