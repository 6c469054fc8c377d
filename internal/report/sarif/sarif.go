// Package sarif writes Static Analysis Results Interchange Format (SARIF)
// 2.1.0 logs, the format GitHub code scanning and most CI systems ingest.
// It models the subset of the schema kubeward's commands emit: one run per
// tool, rules with help text and default levels, results with physical
// (file, line) and logical (Kubernetes object, field) locations.
package sarif

import (
	"encoding/json"
	"fmt"
	"io"
)

// Version and Schema identify SARIF 2.1.0.
const (
	Version = "2.1.0"
	Schema  = "https://json.schemastore.org/sarif-2.1.0.json"
)

// Level is a result's level.
type Level string

// Levels.
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
	LevelNote    Level = "note"
	LevelNone    Level = "none"
)

// Kind is a result's kind.
type Kind string

// Kinds.
const (
	KindFail          Kind = "fail"
	KindPass          Kind = "pass"
	KindNotApplicable Kind = "notApplicable"
)

// Log is a SARIF log file.
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []*Run `json:"runs"`
}

// Run is the output of one tool invocation.
type Run struct {
	Tool    Tool      `json:"tool"`
	Results []*Result `json:"results"`

	ruleIndex map[string]int
}

// Tool describes the analysis tool.
type Tool struct {
	Driver Driver `json:"driver"`
}

// Driver is the tool's primary component.
type Driver struct {
	Name           string  `json:"name"`
	Version        string  `json:"version,omitempty"`
	InformationURI string  `json:"informationUri,omitempty"`
	Rules          []*Rule `json:"rules,omitempty"`
}

// Rule describes one rule (reportingDescriptor).
type Rule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     *Message       `json:"shortDescription,omitempty"`
	FullDescription      *Message       `json:"fullDescription,omitempty"`
	Help                 *Message       `json:"help,omitempty"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration *Configuration `json:"defaultConfiguration,omitempty"`
	Properties           map[string]any `json:"properties,omitempty"`
}

// Configuration is a rule's default configuration.
type Configuration struct {
	Level Level `json:"level,omitempty"`
}

// Message is a plain-text message.
type Message struct {
	Text string `json:"text"`
}

// Result is one finding.
type Result struct {
	RuleID     string         `json:"ruleId"`
	RuleIndex  int            `json:"ruleIndex"`
	Kind       Kind           `json:"kind,omitempty"`
	Level      Level          `json:"level,omitempty"`
	Message    Message        `json:"message"`
	Locations  []Location     `json:"locations,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
	// PartialFingerprints lets consumers track a result across runs.
	PartialFingerprints map[string]string `json:"partialFingerprints,omitempty"`
}

// Location is where a result was found.
type Location struct {
	PhysicalLocation *PhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []LogicalLocation `json:"logicalLocations,omitempty"`
}

// PhysicalLocation is a file and region.
type PhysicalLocation struct {
	ArtifactLocation ArtifactLocation `json:"artifactLocation"`
	Region           *Region          `json:"region,omitempty"`
}

// ArtifactLocation names a file by URI (relative paths are relative to the
// repository root).
type ArtifactLocation struct {
	URI string `json:"uri"`
}

// Region is a line range (1-based).
type Region struct {
	StartLine int `json:"startLine,omitempty"`
}

// LogicalLocation names a program element (here a Kubernetes object or
// field).
type LogicalLocation struct {
	Name               string `json:"name,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

// New returns a log with one run of driver.
func New(driver Driver) (*Log, *Run) {
	run := &Run{Tool: Tool{Driver: driver}, Results: []*Result{}, ruleIndex: map[string]int{}}
	for i, r := range driver.Rules {
		run.ruleIndex[r.ID] = i
	}
	return &Log{Schema: Schema, Version: Version, Runs: []*Run{run}}, run
}

// AddRule registers rule unless a rule with its ID exists, and returns its
// index.
func (r *Run) AddRule(rule *Rule) int {
	if r.ruleIndex == nil {
		r.ruleIndex = map[string]int{}
	}
	if i, ok := r.ruleIndex[rule.ID]; ok {
		return i
	}
	r.Tool.Driver.Rules = append(r.Tool.Driver.Rules, rule)
	i := len(r.Tool.Driver.Rules) - 1
	r.ruleIndex[rule.ID] = i
	return i
}

// AddResult appends res, which must name a rule added before.
func (r *Run) AddResult(res *Result) error {
	i, ok := r.ruleIndex[res.RuleID]
	if !ok {
		return fmt.Errorf("sarif: result for unknown rule %q: add the rule first", res.RuleID)
	}
	res.RuleIndex = i
	r.Results = append(r.Results, res)
	return nil
}

// Write encodes log as indented JSON. Map keys are written in sorted order
// (encoding/json sorts them), so equal logs give equal bytes.
func Write(w io.Writer, log *Log) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("sarif: writing log: %w", err)
	}
	return nil
}
