package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/store"
)

// Enricher adds what other sources know about the vulnerabilities of
// findings (CVSS, KEV, EPSS, SSVC), in place.
type Enricher interface {
	// Enrich fills findings[i].Enrichment and may raise
	// findings[i].Severity when its own source has none. A vulnerability
	// the source does not know is left as it is; only a failing source is
	// an error.
	Enrich(ctx context.Context, findings []Finding) error
}

// Enrichment is what the CVE store knows about a finding's vulnerability,
// found through the CVE IDs among its advisory ID and aliases.
type Enrichment struct {
	// CVEs are the CVE IDs the store knows, sorted.
	CVEs []string `json:"cves"`
	// CVSS lists every CVSS metric of those records, with the score
	// computed from the vector.
	CVSS []CVSS `json:"cvss,omitempty"`
	// KEV is set when one of the CVEs is in CISA's Known Exploited
	// Vulnerabilities catalog (or the record's CISA-ADP container says so).
	KEV *KEV `json:"kev,omitempty"`
	// EPSS is the highest EPSS score of the CVEs, when known.
	EPSS *EPSS `json:"epss,omitempty"`
	// SSVC is CISA-ADP's SSVC decision point set, the one with the worst
	// exploitation status when several CVEs have one.
	SSVC *SSVC `json:"ssvc,omitempty"`
}

// CVSS is one CVSS metric of a CVE record.
type CVSS struct {
	CVE string `json:"cve"`
	// Source is the container that stated it ("cna" or "adp:<name>").
	Source  string  `json:"source"`
	Version string  `json:"version"`
	Vector  string  `json:"vector"`
	Score   float64 `json:"score"`
	Level   Level   `json:"level"`
}

// KEV is a Known Exploited Vulnerabilities listing.
type KEV struct {
	CVE       string    `json:"cve"`
	DateAdded time.Time `json:"date_added,omitzero"`
	// DueDate is the remediation deadline for US federal agencies; set
	// when the KEV catalog itself lists the CVE.
	DueDate                    time.Time `json:"due_date,omitzero"`
	RequiredAction             string    `json:"required_action,omitempty"`
	KnownRansomwareCampaignUse string    `json:"known_ransomware_campaign_use,omitempty"`
	// Source is "kev-catalog" or "cisa-adp" (the CVE record's ADP
	// container, which carries no due date).
	Source string `json:"source"`
}

// EPSS is a FIRST EPSS score.
type EPSS struct {
	CVE        string    `json:"cve"`
	Score      float64   `json:"score"`
	Percentile float64   `json:"percentile"`
	Date       time.Time `json:"date,omitzero"`
}

// SSVC is CISA-ADP's SSVC decision points for a CVE.
type SSVC struct {
	CVE             string `json:"cve"`
	Exploitation    string `json:"exploitation,omitempty"`
	Automatable     string `json:"automatable,omitempty"`
	TechnicalImpact string `json:"technical_impact,omitempty"`
}

// CVEGetter is the part of store.CVEStore the store enricher needs.
type CVEGetter interface {
	// GetCVE returns the stored record with its KEV and EPSS enrichments,
	// or an error wrapping store.ErrNotFound.
	GetCVE(ctx context.Context, id string) (*store.CVEDetail, error)
}

// StoreEnricher enriches findings from the kubeward CVE store.
type StoreEnricher struct {
	store CVEGetter
	log   *slog.Logger
}

// NewStoreEnricher returns an enricher reading s; log may be nil
// (slog.Default()).
func NewStoreEnricher(s CVEGetter, log *slog.Logger) *StoreEnricher {
	if log == nil {
		log = slog.Default()
	}
	return &StoreEnricher{store: s, log: log}
}

// Enrich implements Enricher. Each CVE is read once per call. A finding
// whose own severity has no CVSS source takes the worst-scored CVSS metric
// of its CVE records (Severity.Source "cve:<container>").
func (e *StoreEnricher) Enrich(ctx context.Context, findings []Finding) error {
	cache := map[string]*store.CVEDetail{}
	for i := range findings {
		f := &findings[i]
		var details []*store.CVEDetail
		for _, id := range cveIDs(*f) {
			d, ok := cache[id]
			if !ok {
				var err error
				d, err = e.store.GetCVE(ctx, id)
				switch {
				case errors.Is(err, store.ErrNotFound):
					d = nil
					enrichMisses.Inc()
					e.log.Debug("scan: CVE not in the store; finding not enriched from it", "cve", id, "advisory", f.AdvisoryID)
				case err != nil:
					return fmt.Errorf("enrich %s: read %s from the CVE store: %w", f.AdvisoryID, id, err)
				}
				cache[id] = d
			}
			if d != nil && d.Record != nil {
				details = append(details, d)
			}
		}
		if len(details) == 0 {
			continue
		}
		f.Enrichment = enrichment(details)
		if f.Severity.Source != "cvss" {
			if s, ok := worstCVSS(f.Enrichment.CVSS); ok {
				f.Severity = s
			}
		}
	}
	return nil
}

// cveIDs returns the CVE IDs among f's advisory ID and aliases.
func cveIDs(f Finding) []string {
	var ids []string
	for _, id := range append([]string{f.AdvisoryID}, f.Aliases...) {
		if strings.HasPrefix(id, "CVE-") && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// enrichment folds the details of one finding's CVEs.
func enrichment(details []*store.CVEDetail) *Enrichment {
	en := &Enrichment{}
	for _, d := range details {
		rec := d.Record
		en.CVEs = append(en.CVEs, rec.ID)
		for _, m := range rec.Metrics {
			if m.Format != cve.FormatCVSS {
				continue
			}
			lvl, err := ParseLevel(m.Severity)
			if err != nil {
				lvl = LevelUnknown
			}
			en.CVSS = append(en.CVSS, CVSS{CVE: rec.ID, Source: m.Source, Version: m.Version, Vector: m.Vector, Score: m.BaseScore, Level: lvl})
		}
		if k := kevOf(d); k != nil && (en.KEV == nil || k.Source == "kev-catalog" && en.KEV.Source != "kev-catalog") {
			en.KEV = k
		}
		if s := d.EPSS; s != nil && (en.EPSS == nil || s.Score > en.EPSS.Score) {
			en.EPSS = &EPSS{CVE: rec.ID, Score: s.Score, Percentile: s.Percentile, Date: s.Date}
		}
		if s := rec.SSVC; s != nil && (en.SSVC == nil || exploitationRank(s.Exploitation) > exploitationRank(en.SSVC.Exploitation)) {
			en.SSVC = &SSVC{CVE: rec.ID, Exploitation: s.Exploitation, Automatable: s.Automatable, TechnicalImpact: s.TechnicalImpact}
		}
	}
	return en
}

// kevOf prefers the KEV catalog entry (it has the due date) over the CVE
// record's CISA-ADP KEV marker.
func kevOf(d *store.CVEDetail) *KEV {
	if k := d.KEV; k != nil {
		return &KEV{CVE: d.Record.ID, DateAdded: k.DateAdded, DueDate: k.DueDate, RequiredAction: k.RequiredAction,
			KnownRansomwareCampaignUse: k.KnownRansomwareCampaignUse, Source: "kev-catalog"}
	}
	if k := d.Record.KEV; k != nil {
		return &KEV{CVE: d.Record.ID, DateAdded: k.DateAdded, Source: "cisa-adp"}
	}
	return nil
}

// exploitationRank orders SSVC exploitation values: active > poc > none.
func exploitationRank(s string) int {
	switch strings.ToLower(s) {
	case "active":
		return 3
	case "poc", "public poc":
		return 2
	case "none":
		return 1
	}
	return 0
}

// worstCVSS picks the highest-scored metric, preferring the newest CVSS
// version on equal scores.
func worstCVSS(ms []CVSS) (Severity, bool) {
	if len(ms) == 0 {
		return Severity{}, false
	}
	best := slices.MaxFunc(ms, func(a, b CVSS) int {
		return cmp.Or(cmp.Compare(a.Score, b.Score), cmp.Compare(a.Version, b.Version))
	})
	return Severity{Level: best.Level, Score: best.Score, Source: "cve:" + best.Source, Vector: best.Vector}, true
}
