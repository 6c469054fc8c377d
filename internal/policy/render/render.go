// Package render writes policy results as a table, JSON, SARIF 2.1.0 or
// JUnit XML.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/report/junit"
	"github.com/kubeward/kubeward/internal/report/sarif"
)

// Formats lists the supported output formats.
var Formats = []string{"table", "json", "sarif", "junit"}

// Options tune the output.
type Options struct {
	// ToolVersion is reported in SARIF.
	ToolVersion string
	// FailOn is the severity threshold; table output marks failures at or
	// above it.
	FailOn policy.Severity
}

// Write renders results in format.
func Write(w io.Writer, format string, results []policy.Result, opts Options) error {
	switch format {
	case "table", "":
		return Table(w, results, opts)
	case "json":
		return JSON(w, results)
	case "sarif":
		return SARIF(w, results, opts)
	case "junit":
		return JUnit(w, results)
	}
	return fmt.Errorf("output format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// Document is the JSON output.
type Document struct {
	Results []policy.Result `json:"results"`
}

// JSON writes {"results":[…]} with every result (pass, fail and skip).
func JSON(w io.Writer, results []policy.Result) error {
	if results == nil {
		results = []policy.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Document{Results: results}); err != nil {
		return fmt.Errorf("writing JSON results: %w", err)
	}
	return nil
}

// Table writes the failures (most severe first) and a summary line.
func Table(w io.Writer, results []policy.Result, opts Options) error {
	var fails []policy.Result
	var pass, skip int
	for _, r := range results {
		switch r.Result {
		case policy.Fail:
			fails = append(fails, r)
		case policy.Pass:
			pass++
		case policy.Skip:
			skip++
		}
	}
	sort.SliceStable(fails, func(i, j int) bool { return fails[i].Severity > fails[j].Severity })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(fails) > 0 {
		fmt.Fprintln(tw, "SEVERITY\tPOLICY\tRULE\tRESOURCE\tSOURCE\tFIELD\tMESSAGE")
		for _, r := range fails {
			sev := strings.ToUpper(r.Severity.String())
			if opts.FailOn != policy.SeverityUnknown && r.Severity >= opts.FailOn {
				sev += "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sev, r.Policy, r.Rule, r.Resource, nonEmpty(r.Source, "-"), r.Field, r.Message)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	_, err := fmt.Fprintf(w, "\n%d failed, %d passed, %d skipped", len(fails), pass, skip)
	if err == nil && opts.FailOn != policy.SeverityUnknown {
		_, err = fmt.Fprintf(w, " (* = at or above --fail-on %s)", opts.FailOn)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	if err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

func sarifLevel(s policy.Severity) sarif.Level {
	switch {
	case s >= policy.SeverityHigh:
		return sarif.LevelError
	case s >= policy.SeverityMedium:
		return sarif.LevelWarning
	default:
		return sarif.LevelNote
	}
}

// SARIF writes the failures as a SARIF 2.1.0 log; rule IDs are
// policy/rule.
func SARIF(w io.Writer, results []policy.Result, opts Options) error {
	log, run := sarif.New(sarif.Driver{Name: "kubeward", Version: opts.ToolVersion, InformationURI: "https://github.com/kubeward/kubeward"})
	for _, r := range results {
		if r.Result != policy.Fail {
			continue
		}
		id := r.Policy + "/" + r.Rule
		run.AddRule(&sarif.Rule{
			ID: id, Name: r.Rule,
			ShortDescription:     &sarif.Message{Text: r.Policy + " " + r.Rule},
			Help:                 &sarif.Message{Text: nonEmpty(r.Remediation, r.Message)},
			DefaultConfiguration: &sarif.Configuration{Level: sarifLevel(r.Severity)},
			Properties:           map[string]any{"control": r.Control, "security-severity": securitySeverity(r.Severity)},
		})
		loc := sarif.Location{LogicalLocations: []sarif.LogicalLocation{{
			Name: r.Resource.Name, FullyQualifiedName: fqn(r), Kind: "object",
		}}}
		if file := sourceFile(r.Source); file != "" {
			loc.PhysicalLocation = &sarif.PhysicalLocation{ArtifactLocation: sarif.ArtifactLocation{URI: file}}
		}
		res := &sarif.Result{
			RuleID: id, Kind: sarif.KindFail, Level: sarifLevel(r.Severity),
			Message:             sarif.Message{Text: r.Message},
			Locations:           []sarif.Location{loc},
			Properties:          map[string]any{"severity": r.Severity.String(), "field": r.Field},
			PartialFingerprints: map[string]string{"kubeward/v1": id + "|" + fqn(r)},
		}
		if err := run.AddResult(res); err != nil {
			return err
		}
	}
	return sarif.Write(w, log)
}

func fqn(r policy.Result) string {
	s := r.Resource.APIVersion + "/" + r.Resource.String()
	if r.Field != "" {
		s += ":" + r.Field
	}
	return s
}

// securitySeverity maps to GitHub code scanning's CVSS-like scale.
func securitySeverity(s policy.Severity) string {
	switch s {
	case policy.SeverityCritical:
		return "9.5"
	case policy.SeverityHigh:
		return "8.0"
	case policy.SeverityMedium:
		return "5.5"
	case policy.SeverityLow:
		return "3.0"
	}
	return "0.0"
}

// sourceFile strips the #document suffix of an object's source.
func sourceFile(src string) string {
	if src == "" || strings.HasPrefix(src, "<") {
		return ""
	}
	if i := strings.LastIndexByte(src, '#'); i >= 0 {
		return src[:i]
	}
	return src
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// JUnit writes one test suite per policy and one test case per rule and
// resource.
func JUnit(w io.Writer, results []policy.Result) error {
	doc := &junit.Testsuites{Name: "kubeward policy"}
	suites := map[string]*junit.Testsuite{}
	var order []string
	for _, r := range results {
		s := suites[r.Policy]
		if s == nil {
			s = &junit.Testsuite{Name: r.Policy}
			suites[r.Policy] = s
			order = append(order, r.Policy)
		}
		c := &junit.Testcase{Name: r.Rule + " " + r.Resource.String(), Classname: r.Policy + "." + r.Rule}
		if r.Field != "" {
			c.Name += " " + r.Field
		}
		switch r.Result {
		case policy.Fail:
			c.Failure = &junit.Failure{Message: r.Message, Type: r.Severity.String(),
				Text: fmt.Sprintf("severity: %s\nfield: %s\nremediation: %s\nsource: %s", r.Severity, r.Field, r.Remediation, r.Source)}
		case policy.Skip:
			c.Skipped = &junit.Skipped{Message: r.Message}
		}
		s.Add(c)
	}
	for _, n := range order {
		doc.Add(suites[n])
	}
	return junit.Write(w, doc)
}
