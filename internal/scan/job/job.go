// Package job runs vulnerability scans on request: a Service accepts a scan
// request (an image reference, or an uploaded `docker save` archive, OCI
// layout tarball or SBOM), records it in a Store, runs it on a bounded
// worker pool with the scanner of package scan, stores the report
// (packages, findings, counts by severity) and publishes every finding on
// the bus topic Topic, where the alert pipeline turns it into an alert.
//
// The package knows nothing of HTTP: the API (internal/api) translates
// requests into Submit calls and reads results back through the Service.
package job

import (
	"errors"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/scan"
)

// State is where a scan stands in its life cycle.
type State string

// Scan states. A scan is created queued, becomes running when a worker
// takes it, and ends done (its report is stored) or failed (Scan.Error
// says why).
const (
	StateQueued  State = "queued"
	StateRunning State = "running"
	StateDone    State = "done"
	StateFailed  State = "failed"
)

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	switch s {
	case StateQueued, StateRunning, StateDone, StateFailed:
		return true
	}
	return false
}

// ParseState reads a state name.
func ParseState(s string) (State, error) {
	if st := State(s); st.Valid() {
		return st, nil
	}
	return "", fmt.Errorf("scan state %q: want queued, running, done or failed", s)
}

// Kind says what a scan reads.
type Kind string

// Scan target kinds.
const (
	// KindImage is an image reference pulled from its registry
	// ("alpine:3.20", "ghcr.io/org/app@sha256:…").
	KindImage Kind = "image"
	// KindArchive is an uploaded `docker save` archive (tar or tar.gz).
	KindArchive Kind = "archive"
	// KindOCI is an uploaded tarball of an OCI image layout directory.
	KindOCI Kind = "oci"
	// KindSBOM is an uploaded CycloneDX or SPDX JSON SBOM.
	KindSBOM Kind = "sbom"
)

// ParseKind reads the kind of an uploaded file: archive, oci or sbom.
// Image references are submitted without a kind.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindArchive, KindOCI, KindSBOM:
		return k, nil
	}
	return "", fmt.Errorf("upload kind %q: want archive (a docker save tarball), oci (a tarball of an OCI image layout) or sbom (CycloneDX or SPDX JSON)", s)
}

// Scan is one scan request and, once it ran, the summary of its report.
type Scan struct {
	// ID identifies the scan (32 lower-case hex digits).
	ID    string `json:"id"`
	State State  `json:"state"`
	Kind  Kind   `json:"kind"`
	// Target is the image reference, or for an upload the name the
	// client gave it (the image name, else the file name).
	Target string `json:"target"`
	// RequestedBy is the actor that submitted the scan (a user name or
	// "token:<id>").
	RequestedBy string    `json:"requested_by"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// Error says why a failed scan failed.
	Error string `json:"error,omitempty"`
	// Summary counts the report of a done scan.
	Summary Summary `json:"summary"`
	// Published is true once every finding of a done scan was published
	// on Topic; Service.Recover republishes the others.
	Published bool `json:"published"`
}

// Summary counts a scan report.
type Summary struct {
	Packages int `json:"packages"`
	Findings int `json:"findings"`
	// BySeverity counts findings by severity name (CRITICAL, HIGH,
	// MEDIUM, LOW, NONE, UNKNOWN); severities without findings are left
	// out.
	BySeverity map[string]int `json:"by_severity,omitempty"`
}

// Summarize counts packages and findings.
func Summarize(packages []scan.Package, findings []scan.Finding) Summary {
	s := Summary{Packages: len(packages), Findings: len(findings)}
	for _, f := range findings {
		if s.BySeverity == nil {
			s.BySeverity = map[string]int{}
		}
		s.BySeverity[f.Severity.Level.String()]++
	}
	return s
}

// Result is what a scan found.
type Result struct {
	Packages []scan.Package
	Findings []scan.Finding
}

// Limits of list requests.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// ScanFilter selects scans, newest first.
type ScanFilter struct {
	// State keeps scans in this state; empty keeps all.
	State State
	// Target keeps scans of exactly this target; empty keeps all.
	Target string
	Limit  int
	Offset int
}

// FindingFilter selects the findings of one scan, most severe first.
type FindingFilter struct {
	// MinSeverity keeps findings at least this severe (LevelUnknown, the
	// zero value, keeps all).
	MinSeverity scan.Level
	Limit       int
	Offset      int
}

// Page is one page of a list and the number of items the filter selects.
type Page[T any] struct {
	Items []T
	Total int
}

// normalizePage checks limit and offset, filling in the default limit.
func normalizePage(limit, offset int) (int, int, error) {
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return 0, 0, fmt.Errorf("limit %d: want 1 to %d", limit, MaxLimit)
	}
	if offset < 0 {
		return 0, 0, fmt.Errorf("offset %d: must not be negative", offset)
	}
	return limit, offset, nil
}

// Normalize checks f and fills in defaults.
func (f ScanFilter) Normalize() (ScanFilter, error) {
	if f.State != "" && !f.State.Valid() {
		return f, fmt.Errorf("%w: state %q: want queued, running, done or failed", ErrInvalid, f.State)
	}
	var err error
	if f.Limit, f.Offset, err = normalizePage(f.Limit, f.Offset); err != nil {
		return f, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return f, nil
}

// Normalize checks f and fills in defaults.
func (f FindingFilter) Normalize() (FindingFilter, error) {
	if f.MinSeverity < scan.LevelUnknown || f.MinSeverity > scan.LevelCritical {
		return f, fmt.Errorf("%w: severity %d is out of range", ErrInvalid, f.MinSeverity)
	}
	var err error
	if f.Limit, f.Offset, err = normalizePage(f.Limit, f.Offset); err != nil {
		return f, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return f, nil
}

// Errors of the Service and the Store. Callers test them with errors.Is.
var (
	// ErrNotFound: no scan has the ID.
	ErrNotFound = errors.New("scan not found")
	// ErrQueueFull: the scan queue is at its bound; retry later.
	ErrQueueFull = errors.New("the scan queue is full; retry later")
	// ErrTooLarge: the uploaded file exceeds the upload limit.
	ErrTooLarge = errors.New("the uploaded file exceeds the upload limit")
	// ErrInvalid: the request is malformed (bad reference, kind, filter).
	ErrInvalid = errors.New("invalid scan request")
	// ErrUnsupported: this server cannot scan that kind of target.
	ErrUnsupported = errors.New("scan target kind not supported")
	// ErrConflict: a state change does not apply to the scan's current
	// state (e.g. completing a scan that is not running).
	ErrConflict = errors.New("scan state conflict")
	// ErrStopped: the service is shutting down.
	ErrStopped = errors.New("the scan service is shutting down")
)
