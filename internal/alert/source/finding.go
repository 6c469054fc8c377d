package source

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// Labels set on alerts raised by vulnerability findings.
const (
	// LabelImage is the scanned image reference (or upload name).
	LabelImage = "image"
	// LabelPackage is the vulnerable package's name.
	LabelPackage = "package"
	// LabelAdvisory is the advisory ID (CVE, GHSA, GO, PYSEC, …).
	LabelAdvisory = "advisory"
	// LabelFixAvailable is "true" when a fixed version is known.
	LabelFixAvailable = "fix_available"
)

// Annotations set on alerts raised by findings, besides summary.
const (
	AnnotationInstalledVersion = "installed_version"
	AnnotationFixedVersions    = "fixed_versions"
	AnnotationEcosystem        = "ecosystem"
	AnnotationLayer            = "layer"
	AnnotationAliases          = "aliases"
	AnnotationScanID           = "scan_id"
	AnnotationCVSS             = "cvss"
	AnnotationKEV              = "kev_due_date"
)

// AlertNameFinding is the alertname of finding alerts.
const AlertNameFinding = "VulnerablePackage"

// GroupFindings is the consumer group turning findings into alerts.
const GroupFindings = "kubeward-alert-findings"

// KindFinding names finding messages in metrics.
const KindFinding = "finding"

// DefaultFindingResolveAfter is how long a finding alert fires after the
// scan that reported it: rescanning the image within that time keeps it
// firing, a rescan without the finding lets it resolve.
const DefaultFindingResolveAfter = 7 * 24 * time.Hour

// FindingConverter converts the messages of topic job.Topic.
type FindingConverter struct {
	// ResolveAfter sets EndsAt to the scan time plus ResolveAfter; zero
	// means DefaultFindingResolveAfter.
	ResolveAfter time.Duration
}

// FindingConsumer returns the consumer that raises an alert for each
// finding published on job.Topic, in group GroupFindings.
func FindingConsumer(ing Ingester, conv FindingConverter, logger *slog.Logger) Consumer {
	return Consumer{
		Options: bus.ConsumeOptions{Group: GroupFindings, Topics: []string{job.Topic}},
		Handler: NewHandler(KindFinding, ing, conv.Finding, logger),
	}
}

// findingSeverity maps a scanner severity to an alert severity. A finding
// of unknown severity (an advisory without a score, e.g. most distro
// advisories) is low, not info: it is still a known vulnerability.
var findingSeverity = map[scan.Level]alert.Severity{
	scan.LevelCritical: alert.SeverityCritical,
	scan.LevelHigh:     alert.SeverityHigh,
	scan.LevelMedium:   alert.SeverityMedium,
	scan.LevelLow:      alert.SeverityLow,
	scan.LevelUnknown:  alert.SeverityLow,
	scan.LevelNone:     alert.SeverityInfo,
}

// Finding converts a message of topic job.Topic (a job.FindingMessage).
//
// The alert is identified by the image, the package and the advisory
// (labels alertname VulnerablePackage, image, package, advisory, plus
// severity, source and fix_available), so rescans of an image raise the
// same alert again rather than a new one; versions, layer, aliases and
// the scan are annotations. It ends ResolveAfter after the scan.
func (c FindingConverter) Finding(msg bus.Message) (alert.Alert, error) {
	if err := checkSize(msg); err != nil {
		return alert.Alert{}, err
	}
	m, err := job.DecodeMessage(msg.Value)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: %w", coordinates(msg), err)
	}
	f := m.Finding
	severity, ok := findingSeverity[f.Severity.Level]
	if !ok {
		return alert.Alert{}, fmt.Errorf("message %s: finding %s has severity %d, which is out of range", coordinates(msg), f.AdvisoryID, f.Severity.Level)
	}
	resolve := c.ResolveAfter
	if resolve <= 0 {
		resolve = DefaultFindingResolveAfter
	}
	fix := "false"
	if len(f.FixedVersions) > 0 {
		fix = "true"
	}
	summary := fmt.Sprintf("%s %s in %s is affected by %s", f.Package.Name, f.Package.Version, m.Target, f.AdvisoryID)
	if f.Summary != "" {
		summary += ": " + f.Summary
	}
	if len(f.FixedVersions) > 0 {
		summary += " (fixed in " + strings.Join(f.FixedVersions, ", ") + ")"
	}
	annotations := map[string]string{
		AnnotationSummary:          summary,
		AnnotationInstalledVersion: f.Package.Version,
		AnnotationEcosystem:        f.Package.Ecosystem,
		AnnotationScanID:           m.ScanID,
	}
	setIf := func(k, v string) {
		if v != "" {
			annotations[k] = v
		}
	}
	setIf(AnnotationFixedVersions, strings.Join(f.FixedVersions, ", "))
	setIf(AnnotationLayer, f.Package.Layer)
	setIf(AnnotationAliases, strings.Join(f.Aliases, ", "))
	if f.Severity.Score > 0 {
		annotations[AnnotationCVSS] = strconv.FormatFloat(f.Severity.Score, 'f', 1, 64)
	}
	if e := f.Enrichment; e != nil && e.KEV != nil && !e.KEV.DueDate.IsZero() {
		annotations[AnnotationKEV] = e.KEV.DueDate.Format(time.DateOnly)
	}
	a := alert.Alert{
		Labels: alert.LabelSet{
			alert.LabelAlertName: AlertNameFinding,
			LabelImage:           m.Target,
			LabelPackage:         f.Package.Name,
			LabelAdvisory:        f.AdvisoryID,
			LabelFixAvailable:    fix,
		},
		Annotations:  annotations,
		Severity:     severity,
		Source:       alert.SourceFinding,
		StartsAt:     m.Time,
		EndsAt:       m.Time.Add(resolve),
		GeneratorID:  "scan/" + m.ScanID,
		GeneratorURL: "/api/v1/scans/" + m.ScanID,
	}
	if err := a.Normalize(); err != nil {
		return alert.Alert{}, fmt.Errorf("message %s: %w", coordinates(msg), err)
	}
	return a, nil
}
