package store

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
)

// ErrInvalid is wrapped by errors about input a store refuses (a nil record,
// a record without an ID). Nothing of the call is written when it is returned.
var ErrInvalid = errors.New("store: invalid input")

// Page sizes of CVEQuery.Limit.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// TimePrecision is the precision stores keep times with (PostgreSQL's
// timestamptz resolution); finer parts are truncated, so "strictly later"
// compares times at this precision on both backends.
const TimePrecision = time.Microsecond

// MaxSearchTerms bounds how many terms of CVEQuery.Text are searched; the rest
// are ignored.
const MaxSearchTerms = 16

// maxTermLen bounds one search term (in bytes); longer runs are cut.
const maxTermLen = 64

// PageLimit returns the page size q asks for: DefaultLimit when unset or
// negative, at most MaxLimit.
func (q CVEQuery) PageLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// PageOffset returns q.Offset, never negative.
func (q CVEQuery) PageOffset() int { return max(q.Offset, 0) }

// SearchTerms splits user search text into the terms both backends search
// for: lower-cased runs of letters and digits, so no character of user input
// ever reaches a query language as syntax. "CVE-2021-44228" becomes
// [cve 2021 44228], matching how the stores tokenize indexed text. At most
// MaxSearchTerms distinct terms are returned, in order of appearance.
func SearchTerms(text string) []string {
	var terms []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		f = strings.ToLower(f)
		if len(f) > maxTermLen {
			f = strings.ToValidUTF8(f[:maxTermLen], "")
		}
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		terms = append(terms, f)
		if len(terms) == MaxSearchTerms {
			break
		}
	}
	return terms
}

// LatestVersions validates recs and returns one record per ID: the one with
// the latest DateUpdated (the first of equals, so a replayed copy never
// displaces the version already chosen), sorted by ID so that concurrent
// writers lock rows in the same order. skipped counts the records dropped as
// duplicates.
func LatestVersions(recs []*cve.Record) (latest []*cve.Record, skipped int, err error) {
	idx := make(map[string]int, len(recs))
	latest = make([]*cve.Record, 0, len(recs))
	for i, r := range recs {
		if r == nil {
			return nil, 0, fmt.Errorf("%w: record %d of %d is nil", ErrInvalid, i, len(recs))
		}
		if r.ID == "" {
			return nil, 0, fmt.Errorf("%w: record %d of %d has no ID (cveMetadata.cveId)", ErrInvalid, i, len(recs))
		}
		j, dup := idx[r.ID]
		if !dup {
			idx[r.ID] = len(latest)
			latest = append(latest, r)
			continue
		}
		skipped++
		if VersionOf(r).Replaces(VersionOf(latest[j])) {
			latest[j] = r
		}
	}
	slices.SortFunc(latest, func(a, b *cve.Record) int { return strings.Compare(a.ID, b.ID) })
	return latest, skipped, nil
}

// Version is what orders the versions of one CVE record: when the feed
// published it (zero when unknown) and its dateUpdated.
type Version struct {
	Published, Updated time.Time
}

// VersionOf returns r's version.
func VersionOf(r *cve.Record) Version {
	return Version{Published: r.Published, Updated: r.DateUpdated}
}

// Replaces reports whether version v of a record replaces the stored
// version. When both know when the feed published them, the later
// publication wins and dateUpdated breaks ties: the feed is authoritative,
// and it does republish records with an unchanged or even earlier
// dateUpdated. Otherwise (an import of loose files on either side) the
// strictly later dateUpdated wins. A version without dateUpdated never
// replaces anything. Replaying an older publication is always a no-op.
func (v Version) Replaces(stored Version) bool {
	if v.Updated.IsZero() {
		return false
	}
	if !v.Published.IsZero() && !stored.Published.IsZero() {
		p, sp := v.Published.Truncate(TimePrecision), stored.Published.Truncate(TimePrecision)
		switch {
		case p.After(sp):
			return true
		case p.Before(sp):
			return false
		}
	}
	return Newer(v.Updated, stored.Updated)
}

// Newer reports whether a version updated at candidate replaces one updated
// at stored: candidate must be strictly later at TimePrecision. A zero time
// (no dateUpdated) is older than any other and never replaces anything.
func Newer(candidate, stored time.Time) bool {
	if candidate.IsZero() {
		return false
	}
	if stored.IsZero() {
		return true
	}
	return candidate.Truncate(TimePrecision).After(stored.Truncate(TimePrecision))
}

func isInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// UniqueKEV validates a KEV catalog and returns it with one entry per CVE ID
// (the last listed wins), in order of first appearance.
func UniqueKEV(entries []kev.Entry) ([]kev.Entry, error) {
	idx := make(map[string]int, len(entries))
	out := make([]kev.Entry, 0, len(entries))
	for i, e := range entries {
		if e.CVEID == "" {
			return nil, fmt.Errorf("%w: KEV entry %d of %d has no cveID", ErrInvalid, i, len(entries))
		}
		if j, dup := idx[e.CVEID]; dup {
			out[j] = e
			continue
		}
		idx[e.CVEID] = len(out)
		out = append(out, e)
	}
	return out, nil
}

// LatestEPSS validates EPSS scores and returns one per CVE ID: the one with
// the latest Date (the first of equals), in order of first appearance.
func LatestEPSS(scores []epss.Score) ([]epss.Score, error) {
	idx := make(map[string]int, len(scores))
	out := make([]epss.Score, 0, len(scores))
	for i, s := range scores {
		switch {
		case s.CVEID == "":
			return nil, fmt.Errorf("%w: EPSS score %d of %d has no CVE ID", ErrInvalid, i, len(scores))
		case s.Date.IsZero():
			return nil, fmt.Errorf("%w: EPSS score %d of %d (%s) has no score date", ErrInvalid, i, len(scores), s.CVEID)
		case !inUnit(s.Score) || !inUnit(s.Percentile):
			return nil, fmt.Errorf("%w: EPSS score %d of %d (%s): score %v and percentile %v must be within [0, 1]",
				ErrInvalid, i, len(scores), s.CVEID, s.Score, s.Percentile)
		}
		if j, dup := idx[s.CVEID]; dup {
			if Newer(s.Date, out[j].Date) {
				out[j] = s
			}
			continue
		}
		idx[s.CVEID] = len(out)
		out = append(out, s)
	}
	return out, nil
}

func inUnit(f float64) bool { return !math.IsNaN(f) && f >= 0 && f <= 1 }
