package scan

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubeward/kubeward/internal/report/sarif"
)

// sarifLevel maps a finding's severity to a SARIF result level.
func sarifLevel(l Level) sarif.Level {
	switch {
	case l >= LevelHigh:
		return sarif.LevelError
	case l >= LevelMedium:
		return sarif.LevelWarning
	default:
		return sarif.LevelNote
	}
}

// WriteSARIF writes the open findings as a SARIF 2.1.0 log: one rule per
// advisory, one result per vulnerable package, located at the file the
// package was found in (and, for images, named by its layer). version is
// the kubeward version recorded as the tool's.
func (r Report) WriteSARIF(w io.Writer, version string) error {
	log, run := sarif.New(sarif.Driver{
		Name:           "kubeward-scan",
		Version:        version,
		InformationURI: "https://github.com/kubeward/kubeward",
	})
	for _, f := range r.Findings {
		desc := f.Summary
		if desc == "" {
			desc = f.AdvisoryID
		}
		props := map[string]any{"security-severity": fmt.Sprintf("%.1f", securityScore(f.Severity))}
		if len(f.Aliases) > 0 {
			props["aliases"] = f.Aliases
		}
		run.AddRule(&sarif.Rule{
			ID:                   f.AdvisoryID,
			ShortDescription:     &sarif.Message{Text: desc},
			HelpURI:              "https://osv.dev/vulnerability/" + f.AdvisoryID,
			DefaultConfiguration: &sarif.Configuration{Level: sarifLevel(f.Severity.Level)},
			Properties:           props,
		})
		fix := "no fixed version is known"
		if len(f.FixedVersions) > 0 {
			fix = "fixed in " + strings.Join(f.FixedVersions, ", ")
		}
		res := &sarif.Result{
			RuleID:  f.AdvisoryID,
			Kind:    sarif.KindFail,
			Level:   sarifLevel(f.Severity.Level),
			Message: sarif.Message{Text: fmt.Sprintf("%s %s (%s) is affected by %s; %s", f.Package.Name, f.Package.Version, f.Package.Ecosystem, f.AdvisoryID, fix)},
			Properties: map[string]any{
				"package":   f.Package.Name,
				"version":   f.Package.Version,
				"ecosystem": f.Package.Ecosystem,
				"severity":  f.Severity.Level.String(),
			},
			PartialFingerprints: map[string]string{"kubeward/v1": f.AdvisoryID + "|" + f.Package.Ecosystem + "|" + f.Package.Name + "|" + f.Package.Version + "|" + f.Package.Location},
		}
		if f.Package.Layer != "" {
			res.Properties["layer"] = f.Package.Layer
		}
		if f.Package.Location != "" {
			res.Locations = []sarif.Location{{PhysicalLocation: &sarif.PhysicalLocation{ArtifactLocation: sarif.ArtifactLocation{URI: f.Package.Location}}}}
		}
		if err := run.AddResult(res); err != nil {
			return fmt.Errorf("write SARIF report: %w", err)
		}
	}
	if err := sarif.Write(w, log); err != nil {
		return fmt.Errorf("write SARIF report: %w", err)
	}
	return nil
}

// securityScore is the 0–10 "security-severity" GitHub code scanning
// ranks results by: the CVSS score when known, else the middle of the
// level's CVSS band.
func securityScore(s Severity) float64 {
	if s.Score > 0 {
		return s.Score
	}
	switch s.Level {
	case LevelCritical:
		return 9.5
	case LevelHigh:
		return 8.0
	case LevelMedium:
		return 5.5
	case LevelLow:
		return 2.0
	}
	return 0
}
