// Package junit writes JUnit XML reports (the Ant/Surefire dialect that
// Jenkins, GitLab and GitHub test reporters read): test suites of test
// cases, each passed, failed or skipped.
package junit

import (
	"encoding/xml"
	"fmt"
	"io"
)

// Testsuites is the document root.
type Testsuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr,omitempty"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []*Testsuite `xml:"testsuite"`
}

// Testsuite groups test cases.
type Testsuite struct {
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr"`
	Time       string      `xml:"time,attr,omitempty"`
	Properties *Properties `xml:"properties,omitempty"`
	Cases      []*Testcase `xml:"testcase"`
}

// Properties hold a suite's properties.
type Properties struct {
	Property []Property `xml:"property"`
}

// Property is a name/value pair of a suite.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Testcase is one test.
type Testcase struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      string   `xml:"time,attr,omitempty"`
	Failure   *Failure `xml:"failure,omitempty"`
	Error     *Failure `xml:"error,omitempty"`
	Skipped   *Skipped `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
}

// Failure describes a failed (or errored) test case.
type Failure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// Skipped marks a skipped test case.
type Skipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// Add appends c to s and updates the counters.
func (s *Testsuite) Add(c *Testcase) {
	s.Cases = append(s.Cases, c)
	s.Tests++
	switch {
	case c.Failure != nil:
		s.Failures++
	case c.Error != nil:
		s.Errors++
	case c.Skipped != nil:
		s.Skipped++
	}
}

// Add appends s to t and updates the totals.
func (t *Testsuites) Add(s *Testsuite) {
	t.Suites = append(t.Suites, s)
	t.Tests += s.Tests
	t.Failures += s.Failures
	t.Errors += s.Errors
	t.Skipped += s.Skipped
}

// Write encodes t as indented XML with the XML declaration.
func Write(w io.Writer, t *Testsuites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("junit: writing report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(t); err != nil {
		return fmt.Errorf("junit: writing report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("junit: writing report: %w", err)
	}
	return nil
}
