package kev

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// MaxCatalogSize bounds how much Parse reads. The real catalog is about
// 1.3 MB; anything this large is not a KEV catalog.
const MaxCatalogSize = 64 << 20

// Errors that make the whole catalog unusable; test for them with
// errors.Is.
var (
	// ErrMalformed means the input is not valid JSON of the catalog's
	// shape (truncated, wrong types, too large).
	ErrMalformed = errors.New("malformed KEV catalog")
	// ErrInvalidCatalog means a catalog-level field is missing or wrong:
	// catalogVersion, dateReleased, or count not matching the entries.
	ErrInvalidCatalog = errors.New("invalid KEV catalog")
)

// ErrInvalidEntry is wrapped by every *EntryError.
var ErrInvalidEntry = errors.New("invalid KEV entry")

// Catalog is a parsed CISA Known Exploited Vulnerabilities catalog.
type Catalog struct {
	// Title is the catalog's title.
	Title string `json:"title"`
	// Version is catalogVersion, e.g. "2025.08.25".
	Version string `json:"catalogVersion"`
	// DateReleased is when CISA released this version (UTC).
	DateReleased time.Time `json:"dateReleased"`
	// Count is the number of entries the catalog says it has.
	Count int `json:"count"`
	// Entries are the usable entries, in catalog order. An entry whose
	// cveID is invalid or repeated is left out; an entry with another
	// invalid field is kept with that field zeroed (an unknown
	// knownRansomwareCampaignUse is kept as published, an invalid CWE is
	// left out of CWEs). Either way the problem is listed in Invalid.
	Entries []Entry `json:"vulnerabilities"`
	// Invalid lists the problems found in entries.
	Invalid []*EntryError `json:"invalid,omitempty"`
}

// EntryError describes one invalid field of one catalog entry.
type EntryError struct {
	// Index is the entry's position in the catalog's vulnerabilities array.
	Index int
	// CVEID is the entry's cveID as published (possibly invalid).
	CVEID string
	// Field is the entry's JSON member name, e.g. "dueDate".
	Field string
	// Value is the offending value as published.
	Value string
	// Reason says what is wrong with it.
	Reason string
	// Dropped is true when the entry was left out of Catalog.Entries.
	Dropped bool
}

// Error implements error.
func (e *EntryError) Error() string {
	action := "entry kept"
	if e.Dropped {
		action = "entry dropped"
	}
	return fmt.Sprintf("%s: vulnerabilities[%d] (cveID %q): %s %q: %s (%s)",
		ErrInvalidEntry, e.Index, e.CVEID, e.Field, e.Value, e.Reason, action)
}

// Unwrap returns ErrInvalidEntry.
func (e *EntryError) Unwrap() error { return ErrInvalidEntry }

var (
	parseErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_kev_parse_errors_total",
		Help: "CISA KEV catalogs that could not be parsed at all.",
	})
	invalidEntries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_kev_invalid_entries_total",
		Help: "Invalid fields in CISA KEV catalog entries, by field.",
	}, []string{"field"})
)

// wireCatalog is the catalog as published.
type wireCatalog struct {
	Title           *string     `json:"title"`
	CatalogVersion  *string     `json:"catalogVersion"`
	DateReleased    *string     `json:"dateReleased"`
	Count           *int        `json:"count"`
	Vulnerabilities []wireEntry `json:"vulnerabilities"`
}

// wireEntry is one catalog entry as published.
type wireEntry struct {
	CVEID                      string   `json:"cveID"`
	VendorProject              string   `json:"vendorProject"`
	Product                    string   `json:"product"`
	VulnerabilityName          string   `json:"vulnerabilityName"`
	DateAdded                  string   `json:"dateAdded"`
	ShortDescription           string   `json:"shortDescription"`
	RequiredAction             string   `json:"requiredAction"`
	DueDate                    string   `json:"dueDate"`
	KnownRansomwareCampaignUse string   `json:"knownRansomwareCampaignUse"`
	Notes                      string   `json:"notes"`
	CWEs                       []string `json:"cwes"`
}

// Parse reads a CISA KEV catalog (known_exploited_vulnerabilities.json,
// schema known_exploited_vulnerabilities_schema.json) from r.
//
// It fails with ErrMalformed when the input is not a catalog at all and
// with ErrInvalidCatalog when catalogVersion or dateReleased are missing
// or invalid, or count does not match the number of entries (a truncated
// or tampered catalog must not replace a good one). Problems within
// entries do not fail the catalog: they are listed in Catalog.Invalid and
// counted in kubeward_kev_invalid_entries_total. Checked per entry: cveID
// (CVE-YYYY-NNNN with 4 to 19 digits, as cve.ValidID; unique), dateAdded
// and dueDate (YYYY-MM-DD, both required by the schema), cwes (CWE-N) and
// knownRansomwareCampaignUse ("Known" or "Unknown"; kept as published
// when it is something else). Dates are UTC midnight.
func Parse(r io.Reader) (Catalog, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCatalogSize+1))
	if err != nil {
		parseErrors.Inc()
		return Catalog{}, fmt.Errorf("%w: read: %w", ErrMalformed, err)
	}
	if len(data) > MaxCatalogSize {
		parseErrors.Inc()
		return Catalog{}, fmt.Errorf("%w: larger than %d bytes; is this the KEV catalog JSON?", ErrMalformed, MaxCatalogSize)
	}
	var w wireCatalog
	if err := json.Unmarshal(data, &w); err != nil {
		parseErrors.Inc()
		return Catalog{}, fmt.Errorf("%w: %w (want the JSON of known_exploited_vulnerabilities.json)", ErrMalformed, err)
	}
	cat, err := w.catalog()
	if err != nil {
		parseErrors.Inc()
		return Catalog{}, err
	}
	for _, e := range cat.Invalid {
		invalidEntries.WithLabelValues(e.Field).Inc()
	}
	return cat, nil
}

// catalog validates the catalog and its entries.
func (w *wireCatalog) catalog() (Catalog, error) {
	var cat Catalog
	if w.CatalogVersion == nil || *w.CatalogVersion == "" {
		return cat, fmt.Errorf("%w: catalogVersion is missing", ErrInvalidCatalog)
	}
	cat.Version = *w.CatalogVersion
	if w.Title != nil {
		cat.Title = *w.Title
	}
	if w.DateReleased == nil {
		return cat, fmt.Errorf("%w: catalog %s: dateReleased is missing", ErrInvalidCatalog, cat.Version)
	}
	t, err := time.Parse(time.RFC3339Nano, *w.DateReleased)
	if err != nil {
		return cat, fmt.Errorf("%w: catalog %s: dateReleased %q is not an RFC 3339 date-time: %w", ErrInvalidCatalog, cat.Version, *w.DateReleased, err)
	}
	cat.DateReleased = t.UTC()
	if w.Vulnerabilities == nil {
		return cat, fmt.Errorf("%w: catalog %s: vulnerabilities is missing", ErrInvalidCatalog, cat.Version)
	}
	if w.Count == nil || *w.Count != len(w.Vulnerabilities) {
		count := "missing"
		if w.Count != nil {
			count = strconv.Itoa(*w.Count)
		}
		return cat, fmt.Errorf("%w: catalog %s: count is %s but it has %d entries; the file may be truncated, download it again",
			ErrInvalidCatalog, cat.Version, count, len(w.Vulnerabilities))
	}
	cat.Count = *w.Count
	cat.Entries = make([]Entry, 0, len(w.Vulnerabilities))
	seen := make(map[string]int, len(w.Vulnerabilities))
	for i := range w.Vulnerabilities {
		e, errs := w.Vulnerabilities[i].entry(i)
		if e != nil {
			if first, dup := seen[e.CVEID]; dup {
				errs = append(errs, &EntryError{Index: i, CVEID: e.CVEID, Field: "cveID", Value: e.CVEID,
					Reason: "repeats vulnerabilities[" + strconv.Itoa(first) + "]", Dropped: true})
				e = nil
			} else {
				seen[e.CVEID] = i
				cat.Entries = append(cat.Entries, *e)
			}
		}
		cat.Invalid = append(cat.Invalid, errs...)
	}
	return cat, nil
}

// entry validates one entry. It returns nil when the entry must be dropped.
func (w *wireEntry) entry(i int) (*Entry, []*EntryError) {
	var errs []*EntryError
	bad := func(field, value, reason string, dropped bool) {
		errs = append(errs, &EntryError{Index: i, CVEID: w.CVEID, Field: field, Value: value, Reason: reason, Dropped: dropped})
	}
	if !cve.ValidID(w.CVEID) {
		bad("cveID", w.CVEID, "is not a CVE ID of the form CVE-YYYY-NNNN", true)
		return nil, errs
	}
	e := &Entry{
		CVEID:                      w.CVEID,
		VendorProject:              w.VendorProject,
		Product:                    w.Product,
		VulnerabilityName:          w.VulnerabilityName,
		ShortDescription:           w.ShortDescription,
		RequiredAction:             w.RequiredAction,
		KnownRansomwareCampaignUse: w.KnownRansomwareCampaignUse,
		Notes:                      w.Notes,
	}
	var err error
	if e.DateAdded, err = parseDate(w.DateAdded); err != nil {
		bad("dateAdded", w.DateAdded, err.Error(), false)
	}
	if e.DueDate, err = parseDate(w.DueDate); err != nil {
		bad("dueDate", w.DueDate, err.Error(), false)
	}
	switch w.KnownRansomwareCampaignUse {
	case "Known", "Unknown":
	default:
		bad("knownRansomwareCampaignUse", w.KnownRansomwareCampaignUse, `is neither "Known" nor "Unknown"`, false)
	}
	for _, cwe := range w.CWEs {
		if validCWE(cwe) {
			e.CWEs = append(e.CWEs, cwe)
		} else {
			bad("cwes", cwe, "is not a CWE ID of the form CWE-N", false)
		}
	}
	return e, errs
}

// parseDate parses a required YYYY-MM-DD date.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("is missing (required, YYYY-MM-DD)")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("is not a date of the form YYYY-MM-DD")
	}
	return t, nil
}

// validCWE reports whether s has the schema's CWE shape ^CWE-[0-9]+$.
func validCWE(s string) bool {
	rest, ok := strings.CutPrefix(s, "CWE-")
	return ok && rest != "" && digits(rest)
}

// digits reports whether s is all ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
