package store

import (
	"strings"
	"unicode"

	"github.com/kubeward/kubeward/internal/cve"
)

// Indexed holds what both backends derive from a record to filter, sort and
// search on, so the backends agree on it.
type Indexed struct {
	// Description is the English description (see cve.Record.EnglishDescription).
	Description string
	// Severity and Score are the highest CVSS severity (upper case) and score.
	Severity string
	Score    float64
	// KEV reports the CISA-ADP KEV metric.
	KEV bool
	// CWEs are the record's distinct CWE IDs.
	CWEs []string
	// SearchID, SearchTitle and SearchBody are the full-text fields in the
	// form SearchText produces; SearchBody joins every description.
	SearchID, SearchTitle, SearchBody string
}

// Index derives the indexed fields of r.
func Index(r *cve.Record) Indexed {
	sev, score := r.MaxSeverity()
	descs := make([]string, len(r.Descriptions))
	for i, d := range r.Descriptions {
		descs[i] = d.Value
	}
	return Indexed{
		Description: r.EnglishDescription(),
		Severity:    strings.ToUpper(sev),
		Score:       score,
		KEV:         r.KEV != nil,
		CWEs:        r.CWEs(),
		SearchID:    SearchText(r.ID),
		SearchTitle: SearchText(r.Title),
		SearchBody:  SearchText(strings.Join(descs, "\n")),
	}
}

// SearchText reduces s to the words SearchTerms finds in queries: runs of
// letters and digits separated by single spaces, so indexed text and query
// terms are split the same way whatever the database's parser or locale.
func SearchText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
			continue
		}
		space = true
	}
	return b.String()
}
