package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is the result of a scan: the inventory and its findings.
type Report struct {
	Packages []Package `json:"packages"`
	// Findings are the open findings; CountAtLeast counts only these.
	Findings []Finding `json:"findings"`
	// Suppressed are findings a VEX document or an ignore file suppressed.
	Suppressed []Finding `json:"suppressed,omitempty"`
}

// CountAtLeast returns the number of findings whose severity is at least
// min.
func (r Report) CountAtLeast(min Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity.Level >= min {
			n++
		}
	}
	return n
}

// WriteJSON writes the report as {"packages":[…],"findings":[…]}; empty
// lists are written as [] rather than null.
func (r Report) WriteJSON(w io.Writer) error {
	if r.Packages == nil {
		r.Packages = []Package{}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// WriteTable writes one line per finding and a summary line.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "PACKAGE\tVERSION\tECOSYSTEM\tADVISORY\tSEVERITY\tFIXED IN\tALIASES\tLOCATION")
	}
	for _, f := range r.Findings {
		loc := f.Package.Location
		if f.Package.Layer != "" {
			loc = f.Package.Layer
		}
		name := f.Package.Name
		if f.Package.Origin != "" && f.Package.Origin != f.Package.Name {
			name += " (" + f.Package.Origin + ")"
		}
		sev := f.Severity.Level.String()
		if f.Enrichment != nil && f.Enrichment.KEV != nil {
			sev += " KEV"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			name, f.Package.Version, f.Package.Ecosystem, f.AdvisoryID, sev,
			dash(strings.Join(f.FixedVersions, ", ")), dash(strings.Join(f.Aliases, ", ")), dash(loc))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table report: %w", err)
	}
	summary := fmt.Sprintf("%d packages, %d findings", len(r.Packages), len(r.Findings))
	if len(r.Suppressed) > 0 {
		summary += fmt.Sprintf(", %d suppressed", len(r.Suppressed))
	}
	_, err := fmt.Fprintln(w, summary)
	if err != nil {
		return fmt.Errorf("write table report: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
