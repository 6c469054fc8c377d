// Package cve models CVE records (CVE JSON 5.x) and parses them into the
// normalized form kubeward stores and searches.
package cve

import (
	"encoding/json"
	"time"
)

// Record states as published in cveMetadata.state.
const (
	StatePublished = "PUBLISHED"
	StateRejected  = "REJECTED"
)

// Record is one CVE record in normalized form. The raw JSON it was parsed
// from is kept in Raw so nothing of the original is lost.
type Record struct {
	ID                string    `json:"id"`
	State             string    `json:"state"`
	DataVersion       string    `json:"dataVersion"`
	AssignerShortName string    `json:"assignerShortName,omitempty"`
	DateReserved      time.Time `json:"dateReserved,omitzero"`
	DatePublished     time.Time `json:"datePublished,omitzero"`
	DateUpdated       time.Time `json:"dateUpdated,omitzero"`
	DateRejected      time.Time `json:"dateRejected,omitzero"`
	// DateUpdatedRaw is cveMetadata.dateUpdated exactly as published.
	DateUpdatedRaw string `json:"dateUpdatedRaw,omitempty"`

	Title string `json:"title,omitempty"`
	// Descriptions come from the CNA container (rejectedReasons for
	// REJECTED records).
	Descriptions []Description `json:"descriptions,omitempty"`
	Problems     []Problem     `json:"problems,omitempty"`
	Metrics      []Metric      `json:"metrics,omitempty"`
	References   []Reference   `json:"references,omitempty"`
	Affected     []Affected    `json:"affected,omitempty"`
	// SSVC is the CISA-ADP SSVC decision, when present.
	SSVC *SSVC `json:"ssvc,omitempty"`
	// KEV is the CISA-ADP "kev" metric, when present. The CISA KEV catalog
	// importer fills the store's KEV table independently.
	KEV *KEV `json:"kev,omitempty"`

	// Raw is the record's original JSON.
	Raw json.RawMessage `json:"-"`

	// Published is when the feed published this version of the record:
	// the time of the release asset it came in. It is zero when unknown
	// (an import of loose files). The store orders versions by
	// (Published, DateUpdated) when both sides know Published, and by
	// DateUpdated alone otherwise: the feed is authoritative, and it does
	// republish records with an unchanged or even earlier dateUpdated
	// (29 records of the vulnrichment history move dateUpdated backwards).
	Published time.Time `json:"-"`
}

// Description is a text in one language.
type Description struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

// Problem is one problem type (usually a CWE) with the container it came
// from ("cna" or "adp:<shortName>").
type Problem struct {
	CWEID       string `json:"cweId,omitempty"`
	Description string `json:"description"`
	Type        string `json:"type,omitempty"`
	Source      string `json:"source"`
}

// Metric is one severity metric. For CVSS metrics BaseScore is computed from
// the vector; ReportedScore is the score written in the record.
type Metric struct {
	Source        string  `json:"source"`
	Format        string  `json:"format"` // CVSS, other
	Version       string  `json:"version,omitempty"`
	Vector        string  `json:"vector,omitempty"`
	BaseScore     float64 `json:"baseScore"`
	ReportedScore float64 `json:"reportedScore,omitempty"`
	Severity      string  `json:"severity,omitempty"`
	// Error is set when the vector could not be parsed; BaseScore then
	// falls back to ReportedScore.
	Error string `json:"error,omitempty"`
}

// Reference is one URL cited by the record.
type Reference struct {
	URL    string   `json:"url"`
	Name   string   `json:"name,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	Source string   `json:"source"`
}

// Affected is one affected product entry.
type Affected struct {
	Source        string    `json:"source"`
	Vendor        string    `json:"vendor,omitempty"`
	Product       string    `json:"product,omitempty"`
	PackageName   string    `json:"packageName,omitempty"`
	CollectionURL string    `json:"collectionURL,omitempty"`
	DefaultStatus string    `json:"defaultStatus,omitempty"`
	Versions      []Version `json:"versions,omitempty"`
	CPEs          []string  `json:"cpes,omitempty"`
}

// Version is one version range of an Affected entry.
type Version struct {
	Version         string `json:"version"`
	Status          string `json:"status"`
	VersionType     string `json:"versionType,omitempty"`
	LessThan        string `json:"lessThan,omitempty"`
	LessThanOrEqual string `json:"lessThanOrEqual,omitempty"`
}

// SSVC is a CISA-ADP Stakeholder-Specific Vulnerability Categorization.
type SSVC struct {
	Exploitation    string    `json:"exploitation,omitempty"`
	Automatable     string    `json:"automatable,omitempty"`
	TechnicalImpact string    `json:"technicalImpact,omitempty"`
	Role            string    `json:"role,omitempty"`
	Version         string    `json:"version,omitempty"`
	Timestamp       time.Time `json:"timestamp,omitzero"`
}

// KEV records that CISA lists the CVE as known exploited.
type KEV struct {
	DateAdded time.Time `json:"dateAdded,omitzero"`
	Reference string    `json:"reference,omitempty"`
}

// MaxSeverity returns the highest-scoring metric's severity and score, or
// "" and 0 when the record has no scored metric.
func (r *Record) MaxSeverity() (string, float64) {
	sev, best := "", -1.0
	for _, m := range r.Metrics {
		if m.Format != "CVSS" {
			continue
		}
		if m.BaseScore > best {
			best, sev = m.BaseScore, m.Severity
		}
	}
	if best < 0 {
		return "", 0
	}
	return sev, best
}

// EnglishDescription returns the first English description, or the first
// description of any language.
func (r *Record) EnglishDescription() string {
	for _, d := range r.Descriptions {
		if d.Lang == "en" || len(d.Lang) > 2 && d.Lang[:3] == "en-" {
			return d.Value
		}
	}
	if len(r.Descriptions) > 0 {
		return r.Descriptions[0].Value
	}
	return ""
}

// CWEs returns the distinct CWE IDs of the record, in order of appearance.
func (r *Record) CWEs() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Problems {
		if p.CWEID != "" && !seen[p.CWEID] {
			seen[p.CWEID] = true
			out = append(out, p.CWEID)
		}
	}
	return out
}
