package storetest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
)

// Base is the dateUpdated of version 1 of every built record.
var Base = time.Date(2024, 10, 22, 8, 30, 15, 123000000, time.UTC)

// RecordSpec describes a record to build. Zero fields get realistic
// defaults derived from the ID.
type RecordSpec struct {
	ID string
	// Version is added to Base, in seconds, to make DateUpdated; versions
	// of one ID compare in the order of their Version.
	Version int
	// Rejected builds a REJECTED record (rejectedReasons, no metrics).
	Rejected bool
	Title    string
	// Description is the English description.
	Description string
	// Severity and Score set the CNA CVSS 3.1 metric ("" = no CVSS metric).
	Severity string
	Score    float64
	CWE      string
	// KEV adds the CISA-ADP KEV metric.
	KEV bool
	// Published is datePublished (zero: Base minus a day per ID digit sum).
	Published time.Time
	// References is how many references to add (default 6).
	References int
}

// Record builds a realistic record: several descriptions, problem types,
// CVSS and SSVC metrics, references with tags, affected products with
// version ranges and CPEs, the CISA-ADP SSVC decision, optionally the KEV
// metric, and raw JSON shaped like CVE JSON 5.1.
func Record(spec RecordSpec) *cve.Record {
	id := spec.ID
	updated := Base.Add(time.Duration(spec.Version) * time.Second)
	published := spec.Published
	if published.IsZero() {
		published = Base.AddDate(0, 0, -30-digitSum(id))
	}
	r := &cve.Record{
		ID:                id,
		State:             cve.StatePublished,
		DataVersion:       "5.1",
		AssignerShortName: "mitre",
		DateReserved:      published.AddDate(0, -2, 0),
		DatePublished:     published,
		DateUpdated:       updated,
		DateUpdatedRaw:    updated.Format("2006-01-02T15:04:05.000Z"),
	}
	if spec.Rejected {
		r.State = cve.StateRejected
		r.DateRejected = updated
		r.DatePublished = time.Time{}
		r.Descriptions = []cve.Description{{Lang: "en", Value: "** REJECT ** DO NOT USE THIS CANDIDATE NUMBER. " +
			"This candidate was withdrawn by its CNA (" + id + ")."}}
		r.Raw = rawJSON(r)
		return r
	}

	title := spec.Title
	if title == "" {
		title = "Improper input validation in Example Widget " + id
	}
	desc := spec.Description
	if desc == "" {
		desc = "A vulnerability in Example Widget before 2.4.1 allows remote attackers to cause a denial of service via crafted packets (" + id + ")."
	}
	r.Title = title
	r.Descriptions = []cve.Description{
		{Lang: "en", Value: desc},
		{Lang: "es", Value: "Una vulnerabilidad en Example Widget permite a atacantes remotos causar una denegación de servicio."},
		{Lang: "de", Value: "Eine Schwachstelle in Example Widget ermöglicht entfernten Angreifern einen Denial-of-Service."},
	}
	cwe := spec.CWE
	if cwe == "" {
		cwe = "CWE-20"
	}
	r.Problems = []cve.Problem{
		{CWEID: cwe, Description: cwe + " Improper Input Validation", Type: "CWE", Source: "cna"},
		{Description: "Denial of service", Type: "text", Source: "cna"},
		{CWEID: cwe, Description: cwe + " (CISA-ADP assessment)", Type: "CWE", Source: "adp:CISA-ADP"},
	}
	// Without a Severity the record is unscored: only a textual metric.
	r.Metrics = []cve.Metric{{Source: "cna", Format: "other", Version: "Textual description of severity", Severity: "Important"}}
	if spec.Severity != "" {
		r.Metrics = append(r.Metrics,
			cve.Metric{Source: "cna", Format: "CVSS", Version: "3.1",
				Vector:    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
				BaseScore: spec.Score, ReportedScore: spec.Score, Severity: spec.Severity},
			cve.Metric{Source: "adp:CISA-ADP", Format: "CVSS", Version: "3.1",
				Vector: "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", BaseScore: 1.8, ReportedScore: 1.8, Severity: "LOW"},
			cve.Metric{Source: "cna", Format: "CVSS", Version: "2.0",
				Vector: "AV:N/AC:L/Au:N/C:P/I:N/A:N/BOGUS", BaseScore: 1.0, ReportedScore: 1.0, Severity: "LOW",
				Error: "invalid CVSS v2 vector: unknown metric BOGUS"},
		)
	}
	refs := spec.References
	if refs == 0 {
		refs = 6
	}
	tags := [][]string{{"vendor-advisory"}, {"patch", "x_transferred"}, nil, {"exploit", "issue-tracking"}}
	for i := 0; i < refs; i++ {
		r.References = append(r.References, cve.Reference{
			URL:    fmt.Sprintf("https://example.com/advisories/%s/%d", id, i),
			Name:   map[bool]string{true: fmt.Sprintf("advisory %d", i)}[i%2 == 0],
			Tags:   tags[i%len(tags)],
			Source: map[bool]string{true: "cna", false: "adp:CVE"}[i%3 != 2],
		})
	}
	r.Affected = []cve.Affected{
		{
			Source: "cna", Vendor: "Example", Product: "Widget", DefaultStatus: "unaffected",
			Versions: []cve.Version{
				{Version: "0", Status: "affected", VersionType: "semver", LessThan: "2.4.1"},
				{Version: "3.0.0", Status: "affected", VersionType: "semver", LessThanOrEqual: "3.0.7"},
				{Version: "2.4.1", Status: "unaffected"},
			},
			CPEs: []string{"cpe:2.3:a:example:widget:*:*:*:*:*:*:*:*"},
		},
		{
			Source: "adp:CISA-ADP", PackageName: "github.com/example/widget", CollectionURL: "https://pkg.go.dev",
			Versions: []cve.Version{{Version: "unspecified", Status: "affected"}},
		},
	}
	r.SSVC = &cve.SSVC{
		Exploitation: "none", Automatable: "yes", TechnicalImpact: "partial", Role: "CISA Coordinator",
		Version: "2.0.3", Timestamp: updated.Add(-time.Hour),
	}
	if spec.KEV {
		r.SSVC.Exploitation = "active"
		r.KEV = &cve.KEV{DateAdded: published.AddDate(0, 0, 3), Reference: "https://www.cisa.gov/known-exploited-vulnerabilities-catalog?search=" + id}
	}
	r.Raw = rawJSON(r)
	return r
}

// Records builds n records with IDs CVE-<year>-<10000+i> and varied
// severities, CWEs, KEV flags and publication dates, all at version.
func Records(year, n, version int) []*cve.Record {
	sevs := []struct {
		sev   string
		score float64
	}{{"CRITICAL", 9.8}, {"HIGH", 7.5}, {"MEDIUM", 5.3}, {"LOW", 3.1}, {"", 0}}
	cwes := []string{"CWE-79", "CWE-89", "CWE-787", "CWE-20", "CWE-416", "CWE-22"}
	out := make([]*cve.Record, n)
	for i := range out {
		s := sevs[i%len(sevs)]
		out[i] = Record(RecordSpec{
			ID:        fmt.Sprintf("CVE-%d-%d", year, 10000+i),
			Version:   version,
			Severity:  s.sev,
			Score:     s.score,
			CWE:       cwes[i%len(cwes)],
			KEV:       i%17 == 0,
			Published: Base.AddDate(0, 0, -i%400).Add(time.Duration(i) * time.Minute),
			Rejected:  i%97 == 96,
		})
	}
	return out
}

func digitSum(s string) int {
	n := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n += int(c - '0')
		}
	}
	return n
}

// rawJSON renders r as a CVE JSON 5.1-shaped document, so stored raw JSON
// has a realistic size and shape.
func rawJSON(r *cve.Record) json.RawMessage {
	type obj = map[string]any
	meta := obj{"cveId": r.ID, "assignerShortName": r.AssignerShortName, "state": r.State,
		"dateUpdated": r.DateUpdatedRaw, "dateReserved": r.DateReserved.Format(time.RFC3339)}
	cna := obj{"providerMetadata": obj{"shortName": r.AssignerShortName}}
	if r.State == cve.StateRejected {
		cna["rejectedReasons"] = r.Descriptions
	} else {
		meta["datePublished"] = r.DatePublished.Format(time.RFC3339)
		cna["title"] = r.Title
		cna["descriptions"] = r.Descriptions
		cna["problemTypes"] = []obj{{"descriptions": r.Problems}}
		cna["metrics"] = r.Metrics
		cna["references"] = r.References
		cna["affected"] = r.Affected
	}
	doc := obj{"dataType": "CVE_RECORD", "dataVersion": r.DataVersion, "cveMetadata": meta,
		"containers": obj{"cna": cna}}
	if r.SSVC != nil || r.KEV != nil {
		doc["containers"].(obj)["adp"] = []obj{{"providerMetadata": obj{"shortName": "CISA-ADP"},
			"metrics": []obj{{"other": obj{"type": "ssvc", "content": r.SSVC}}, {"other": obj{"type": "kev", "content": r.KEV}}}}}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("storetest: render raw JSON of %s: %v", r.ID, err)) // only plain values: cannot happen
	}
	return b
}
