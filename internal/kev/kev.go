// Package kev reads the CISA Known Exploited Vulnerabilities catalog.
package kev

import "time"

// Entry is one CISA Known Exploited Vulnerabilities catalog entry.
type Entry struct {
	CVEID                      string    `json:"cveID"`
	VendorProject              string    `json:"vendorProject"`
	Product                    string    `json:"product"`
	VulnerabilityName          string    `json:"vulnerabilityName"`
	DateAdded                  time.Time `json:"dateAdded"`
	ShortDescription           string    `json:"shortDescription"`
	RequiredAction             string    `json:"requiredAction"`
	DueDate                    time.Time `json:"dueDate,omitzero"`
	KnownRansomwareCampaignUse string    `json:"knownRansomwareCampaignUse"`
	Notes                      string    `json:"notes,omitempty"`
	CWEs                       []string  `json:"cwes,omitempty"`
}
