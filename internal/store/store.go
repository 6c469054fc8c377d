// Package store defines kubeward's persistent store. Two backends implement
// it: package sqlite (embedded, the default) and package postgres (fleets).
// Both run the same contract suite in package storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
)

// ErrNotFound is returned when a requested object does not exist.
var ErrNotFound = errors.New("store: not found")

// Store is the whole persistent store.
type Store interface {
	CVEStore
	StateStore
	DeadLetterStore
	// Ping checks the connection (used by /readyz).
	Ping(ctx context.Context) error
	// Backend names the backend ("sqlite" or "postgres").
	Backend() string
	// Close releases the store.
	Close() error
}

// StateStore keeps small named values that components need across restarts
// (the CVE feed producer's position, for one).
type StateStore interface {
	// GetState returns the value stored under key, or ErrNotFound.
	GetState(ctx context.Context, key string) ([]byte, error)
	// PutState stores value under key, replacing any previous value.
	PutState(ctx context.Context, key string, value []byte) error
}

// CVEStore stores CVE records and their enrichments.
type CVEStore interface {
	// UpsertCVEs writes records in one transaction. A record replaces the
	// stored one only when its DateUpdated is strictly later; an equal or
	// older version is skipped, so replays are idempotent. Within recs, the
	// latest version of each ID wins.
	UpsertCVEs(ctx context.Context, recs []*cve.Record) (UpsertResult, error)
	// GetCVE returns the stored record with its enrichments (KEV catalog
	// entry, EPSS score), or ErrNotFound. Record.Raw holds the raw JSON.
	GetCVE(ctx context.Context, id string) (*CVEDetail, error)
	// SearchCVEs runs a full-text search with filters.
	SearchCVEs(ctx context.Context, q CVEQuery) (CVEPage, error)
	// CVEStats counts records.
	CVEStats(ctx context.Context) (CVEStats, error)
	// CVEVersions calls fn for every stored record's ID and raw
	// dateUpdated, in ID order.
	CVEVersions(ctx context.Context, fn func(id, dateUpdated, state string) error) error
	// UpsertKEV replaces the KEV catalog with entries.
	UpsertKEV(ctx context.Context, catalogVersion string, entries []kev.Entry) error
	// UpsertEPSS stores EPSS scores (one per CVE, newer score date wins).
	UpsertEPSS(ctx context.Context, scores []epss.Score) error
}

// UpsertResult counts what UpsertCVEs did.
type UpsertResult struct {
	// Written records were inserted or replaced an older version.
	Written int
	// Skipped records were not newer than the stored version.
	Skipped int
}

// CVEDetail is a stored record with what other feeds say about it.
type CVEDetail struct {
	Record *cve.Record `json:"record"`
	// KEV is the CISA KEV catalog entry, when listed.
	KEV *kev.Entry `json:"kev,omitempty"`
	// EPSS is the latest EPSS score, when known.
	EPSS *epss.Score `json:"epss,omitempty"`
}

// CVEQuery selects CVE records. Zero fields do not filter.
type CVEQuery struct {
	// Text is a full-text query over ID, title and descriptions.
	Text string
	// Severities keeps records whose highest CVSS severity is one of these
	// (upper case: CRITICAL, HIGH, MEDIUM, LOW, NONE).
	Severities []string
	// KEV, when non-nil, keeps records that are (true) or are not (false)
	// in the KEV catalog or carry the CISA-ADP KEV metric.
	KEV *bool
	// CWE keeps records with this CWE ID (e.g. "CWE-79").
	CWE string
	// State keeps records in this state (PUBLISHED or REJECTED).
	State string
	// PublishedFrom and PublishedTo bound datePublished (inclusive, exclusive).
	PublishedFrom, PublishedTo time.Time
	// Limit bounds the page size (default 50, at most 1000); Offset skips.
	Limit, Offset int
}

// CVEPage is one page of search results.
type CVEPage struct {
	Total int          `json:"total"`
	Items []CVESummary `json:"items"`
}

// CVESummary is a search hit.
type CVESummary struct {
	ID            string    `json:"id"`
	State         string    `json:"state"`
	Title         string    `json:"title,omitempty"`
	Description   string    `json:"description,omitempty"`
	Severity      string    `json:"severity,omitempty"`
	Score         float64   `json:"score,omitempty"`
	KEV           bool      `json:"kev"`
	EPSS          *float64  `json:"epss,omitempty"`
	CWEs          []string  `json:"cwes,omitempty"`
	DatePublished time.Time `json:"datePublished,omitzero"`
	DateUpdated   string    `json:"dateUpdated"`
}

// CVEStats counts stored records.
type CVEStats struct {
	Records  int `json:"records"`
	Rejected int `json:"rejected"`
	// KEV counts records that are in the KEV catalog or carry the CISA-ADP
	// KEV metric.
	KEV  int `json:"kev"`
	EPSS int `json:"epss"`
	// BySeverity counts records by highest CVSS severity ("" = unscored).
	BySeverity map[string]int `json:"bySeverity"`
}

// DeadLetterStore keeps messages that could not be handled, for operators
// to inspect and replay.
type DeadLetterStore interface {
	// AddDeadLetter records one dead-lettered message.
	AddDeadLetter(ctx context.Context, dl DeadLetter) error
	// ListDeadLetters returns the newest dead letters first.
	ListDeadLetters(ctx context.Context, limit, offset int) ([]DeadLetter, error)
}

// DeadLetter is a message that could not be handled.
type DeadLetter struct {
	ID        int64             `json:"id"`
	Topic     string            `json:"topic"`
	Key       string            `json:"key"`
	Value     []byte            `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
	Reason    string            `json:"reason"`
	CreatedAt time.Time         `json:"createdAt"`
}
