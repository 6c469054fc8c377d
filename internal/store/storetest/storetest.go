// Package storetest is the contract test suite every store.Store backend
// runs, and builders of realistic CVE records for tests and benchmarks.
//
// A backend's test calls Run with a function that opens a fresh, empty store
// for each subtest, and RunReopen with one that opens a store again at the
// same location.
package storetest

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/epss"
	"github.com/kubeward/kubeward/internal/kev"
	"github.com/kubeward/kubeward/internal/store"
)

// Opener opens a fresh, empty store for one test. The store is closed by
// the suite.
type Opener func(t *testing.T) store.Store

// Run runs the contract suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Versioning", testVersioning},
		{"FeedPublication", testFeedPublication},
		{"BatchDuplicates", testBatchDuplicates},
		{"Rejected", testRejected},
		{"InvalidInput", testInvalidInput},
		{"ConcurrentUpserts", testConcurrentUpserts},
		{"Search", testSearch},
		{"SearchRelevance", testSearchRelevance},
		{"SearchPaging", testSearchPaging},
		{"SearchHostileText", testSearchHostileText},
		{"KEV", testKEV},
		{"EPSS", testEPSS},
		{"Stats", testStats},
		{"Versions", testVersions},
		{"State", testState},
		{"DeadLetters", testDeadLetters},
		{"RealRecords", testRealRecords},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping on a fresh store: %v", err)
			}
			tc.fn(t, s)
		})
	}
}

// Location opens a store at one fixed location (a file, a database) each
// time it is called; every call returns a new store.Store.
type Location func(t *testing.T) store.Store

// RunReopen checks that data survives closing and reopening a store and that
// reopening (which re-runs migrations) is harmless. newLocation makes a
// fresh location and returns how to open it.
func RunReopen(t *testing.T, newLocation func(t *testing.T) Location) {
	ctx := context.Background()
	openAt := newLocation(t)
	recs := Records(2023, 20, 1)

	s := openAt(t)
	mustUpsert(t, s, recs...)
	if err := s.PutState(ctx, "feed/position", []byte("2024-10-22T08:00:00Z")); err != nil {
		t.Fatalf("PutState: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for round := 1; round <= 2; round++ {
		s := openAt(t)
		st, err := s.CVEStats(ctx)
		if err != nil {
			t.Fatalf("reopen %d: CVEStats: %v", round, err)
		}
		if st.Records != len(recs) {
			t.Errorf("reopen %d: %d records stored, want %d", round, st.Records, len(recs))
		}
		got, err := s.GetCVE(ctx, recs[3].ID)
		if err != nil {
			t.Fatalf("reopen %d: GetCVE: %v", round, err)
		}
		if diff := cmp.Diff(Normalize(recs[3]), Normalize(got.Record), cmpOpts...); diff != "" {
			t.Errorf("reopen %d: record differs (-want +got):\n%s", round, diff)
		}
		v, err := s.GetState(ctx, "feed/position")
		if err != nil || string(v) != "2024-10-22T08:00:00Z" {
			t.Errorf("reopen %d: GetState = %q, %v", round, v, err)
		}
		// Replays after a restart are still skipped.
		res, err := s.UpsertCVEs(ctx, recs)
		if err != nil {
			t.Fatalf("reopen %d: UpsertCVEs: %v", round, err)
		}
		if res != (store.UpsertResult{Skipped: len(recs)}) {
			t.Errorf("reopen %d: replay = %+v, want all %d skipped", round, res, len(recs))
		}
		if err := s.Close(); err != nil {
			t.Fatalf("reopen %d: Close: %v", round, err)
		}
	}
}

// cmpOpts compare records the way stores keep them.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

// Normalize returns a copy of r as a store returns it: times in UTC at
// store.TimePrecision. Raw is kept.
func Normalize(r *cve.Record) *cve.Record {
	c := *r
	tp := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Truncate(store.TimePrecision)
	}
	c.DateReserved, c.DatePublished, c.DateUpdated, c.DateRejected = tp(r.DateReserved), tp(r.DatePublished), tp(r.DateUpdated), tp(r.DateRejected)
	if r.SSVC != nil {
		v := *r.SSVC
		v.Timestamp = tp(v.Timestamp)
		c.SSVC = &v
	}
	if r.KEV != nil {
		k := *r.KEV
		k.DateAdded = tp(k.DateAdded)
		c.KEV = &k
	}
	return &c
}

// mustUpsert stores recs in batches of 500.
func mustUpsert(t *testing.T, s store.Store, recs ...*cve.Record) {
	t.Helper()
	for start := 0; start < len(recs); start += 500 {
		if _, err := s.UpsertCVEs(context.Background(), recs[start:min(start+500, len(recs))]); err != nil {
			t.Fatalf("UpsertCVEs: %v", err)
		}
	}
}

func mustGet(t *testing.T, s store.Store, id string) *store.CVEDetail {
	t.Helper()
	d, err := s.GetCVE(context.Background(), id)
	if err != nil {
		t.Fatalf("GetCVE(%s): %v", id, err)
	}
	return d
}

func testRoundTrip(t *testing.T, s store.Store) {
	minimal := &cve.Record{ID: "CVE-2024-0001", State: cve.StatePublished, DataVersion: "5.0",
		DateUpdated: Base, DateUpdatedRaw: "2024-10-22T08:30:15.123Z"}
	noDates := &cve.Record{ID: "CVE-2024-0002", State: cve.StatePublished}
	unusual := Record(RecordSpec{ID: "CVE-2024-0003", Severity: "HIGH", Score: 8.1, KEV: true})
	unusual.Title = "Zero\x00byte, quotes \"'`, emoji 🔥 and ünïcödé"
	unusual.Descriptions[1].Value = "NUL \x00 inside, \\ backslash, \u2028 separator, \"quotes\""
	unusual.References[0].Tags = []string{"with \"quote\"", "x\x00y"}
	unusual.DateUpdatedRaw = "2024-10-22T08:30:15.123456789" // kept exactly, not reformatted
	unusual.DateUpdated = time.Date(2024, 10, 22, 10, 30, 15, 123456789, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name string
		rec  *cve.Record
	}{
		{"full", Record(RecordSpec{ID: "CVE-2021-44228", Title: "Apache Log4j2 JNDI features do not protect against attacker controlled LDAP",
			Severity: "CRITICAL", Score: 10, CWE: "CWE-502", KEV: true})},
		{"rejected", Record(RecordSpec{ID: "CVE-2023-99999", Rejected: true})},
		{"minimal", minimal},
		{"no dates", noDates},
		{"unusual values", unusual},
	}
	for _, tc := range tests {
		mustUpsert(t, s, tc.rec)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustGet(t, s, tc.rec.ID)
			want := Normalize(tc.rec)
			if s.Backend() == "postgres" {
				want = stripNUL(want) // PostgreSQL text cannot hold NUL
			}
			if diff := cmp.Diff(want, Normalize(got.Record), cmpOpts...); diff != "" {
				t.Errorf("GetCVE(%s) differs (-want +got):\n%s", tc.rec.ID, diff)
			}
			if string(got.Record.Raw) != string(tc.rec.Raw) {
				t.Errorf("GetCVE(%s).Raw = %d bytes, want the %d bytes stored", tc.rec.ID, len(got.Record.Raw), len(tc.rec.Raw))
			}
			if got.KEV != nil || got.EPSS != nil {
				t.Errorf("GetCVE(%s) has enrichments %+v %+v without any imported", tc.rec.ID, got.KEV, got.EPSS)
			}
		})
	}
}

func testNotFound(t *testing.T, s store.Store) {
	mustUpsert(t, s, Records(2024, 3, 1)...)
	for _, id := range []string{"CVE-1999-0001", "", "cve-2024-10000", "CVE-2024-10000'; --"} {
		_, err := s.GetCVE(context.Background(), id)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCVE(%q) error = %v, want ErrNotFound", id, err)
		}
	}
}

func testVersioning(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := "CVE-2024-20000"
	v := func(version, refs int, title string) *cve.Record {
		return Record(RecordSpec{ID: id, Version: version, References: refs, Title: title, Severity: "HIGH", Score: 7})
	}
	noDate := v(0, 1, "no dateUpdated")
	noDate.DateUpdated, noDate.DateUpdatedRaw = time.Time{}, ""
	steps := []struct {
		name      string
		rec       *cve.Record
		written   bool
		wantTitle string
		wantRefs  int
	}{
		{"first insert", v(10, 8, "v10"), true, "v10", 8},
		{"older skipped", v(5, 2, "v5"), false, "v10", 8},
		{"equal skipped", v(10, 3, "v10 replay with other content"), false, "v10", 8},
		{"no dateUpdated never replaces", noDate, false, "v10", 8},
		{"newer replaces and rewrites children", v(11, 2, "v11"), true, "v11", 2},
		{"sub-precision change skipped", func() *cve.Record {
			r := v(11, 5, "v11 + 1ns")
			r.DateUpdated = r.DateUpdated.Add(time.Nanosecond)
			return r
		}(), false, "v11", 2},
		{"much newer replaces", v(100000, 4, "v100000"), true, "v100000", 4},
	}
	for _, st := range steps {
		res, err := s.UpsertCVEs(ctx, []*cve.Record{st.rec})
		if err != nil {
			t.Fatalf("%s: UpsertCVEs: %v", st.name, err)
		}
		want := store.UpsertResult{Skipped: 1}
		if st.written {
			want = store.UpsertResult{Written: 1}
		}
		if res != want {
			t.Errorf("%s: result %+v, want %+v", st.name, res, want)
		}
		got := mustGet(t, s, id).Record
		if got.Title != st.wantTitle || len(got.References) != st.wantRefs {
			t.Errorf("%s: stored title %q with %d references, want %q with %d", st.name, got.Title, len(got.References), st.wantTitle, st.wantRefs)
		}
	}

	// A record stored without dateUpdated is replaced by any dated version.
	undated := Record(RecordSpec{ID: "CVE-2024-20001", Title: "undated"})
	undated.DateUpdated, undated.DateUpdatedRaw = time.Time{}, ""
	mustUpsert(t, s, undated)
	res, err := s.UpsertCVEs(ctx, []*cve.Record{Record(RecordSpec{ID: "CVE-2024-20001", Version: 1, Title: "dated"})})
	if err != nil || res != (store.UpsertResult{Written: 1}) {
		t.Errorf("dated version over undated: %+v, %v; want 1 written", res, err)
	}
	if got := mustGet(t, s, "CVE-2024-20001").Record.Title; got != "dated" {
		t.Errorf("after dated version: title %q, want %q", got, "dated")
	}
}

// testFeedPublication checks the ordering by feed publication: a later
// publication replaces the stored version even with an equal or earlier
// dateUpdated (the feed republished or reverted the record), an earlier
// publication never does (replays are no-ops), and versions without a
// publication time fall back to dateUpdated alone.
func testFeedPublication(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := "CVE-2024-20100"
	day := Base.AddDate(0, 0, 1)
	v := func(version int, published time.Time, title string) *cve.Record {
		r := Record(RecordSpec{ID: id, Version: version, Title: title})
		r.Published = published
		return r
	}
	steps := []struct {
		name      string
		rec       *cve.Record
		written   bool
		wantTitle string
	}{
		{"first publication", v(10, day, "p1 v10"), true, "p1 v10"},
		{"later publication, same dateUpdated, new bytes", v(10, day.Add(time.Hour), "p2 v10"), true, "p2 v10"},
		{"later publication reverting dateUpdated", v(5, day.Add(2*time.Hour), "p3 v5"), true, "p3 v5"},
		{"replay of an earlier publication with a newer dateUpdated", v(10, day.Add(time.Hour), "p2 v10 replay"), false, "p3 v5"},
		{"same publication, newer dateUpdated", v(6, day.Add(2*time.Hour), "p3 v6"), true, "p3 v6"},
		{"same publication, equal dateUpdated", v(6, day.Add(2*time.Hour), "p3 v6 again"), false, "p3 v6"},
		{"unknown publication, older dateUpdated", v(4, time.Time{}, "import v4"), false, "p3 v6"},
		{"unknown publication, newer dateUpdated", v(7, time.Time{}, "import v7"), true, "import v7"},
		{"publication over an unknown one compares dateUpdated", v(7, day.Add(3*time.Hour), "p4 v7"), false, "import v7"},
	}
	for _, st := range steps {
		res, err := s.UpsertCVEs(ctx, []*cve.Record{st.rec})
		if err != nil {
			t.Fatalf("%s: UpsertCVEs: %v", st.name, err)
		}
		if got := res.Written == 1; got != st.written {
			t.Errorf("%s: written %v, want %v", st.name, got, st.written)
		}
		if got := mustGet(t, s, id).Record.Title; got != st.wantTitle {
			t.Errorf("%s: stored title %q, want %q", st.name, got, st.wantTitle)
		}
	}
	// Within one batch the later publication wins too.
	a, b := v(9, day.Add(5*time.Hour), "batch p5 v9"), v(3, day.Add(6*time.Hour), "batch p6 v3")
	a.ID, b.ID = "CVE-2024-20101", "CVE-2024-20101"
	if _, err := s.UpsertCVEs(ctx, []*cve.Record{a, b}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "CVE-2024-20101").Record.Title; got != "batch p6 v3" {
		t.Errorf("batch: stored %q, want the later publication", got)
	}
}

func testBatchDuplicates(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := func(version int, title string) *cve.Record {
		return Record(RecordSpec{ID: "CVE-2024-30000", Version: version, Title: title})
	}
	b := Record(RecordSpec{ID: "CVE-2024-30001", Version: 1})
	batch := []*cve.Record{a(1, "v1"), a(3, "v3 first"), b, a(2, "v2"), a(3, "v3 second"), b}
	res, err := s.UpsertCVEs(ctx, batch)
	if err != nil {
		t.Fatalf("UpsertCVEs: %v", err)
	}
	if want := (store.UpsertResult{Written: 2, Skipped: 4}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if got := mustGet(t, s, "CVE-2024-30000").Record.Title; got != "v3 first" {
		t.Errorf("stored title %q, want the first of the latest versions %q", got, "v3 first")
	}
	// The same batch again is a no-op.
	res, err = s.UpsertCVEs(ctx, batch)
	if err != nil || res != (store.UpsertResult{Skipped: len(batch)}) {
		t.Errorf("replayed batch: %+v, %v; want all %d skipped", res, err, len(batch))
	}
	// Empty batches are fine.
	if res, err := s.UpsertCVEs(ctx, nil); err != nil || res != (store.UpsertResult{}) {
		t.Errorf("empty batch: %+v, %v", res, err)
	}
}

func testRejected(t *testing.T, s store.Store) {
	ctx := context.Background()
	id := "CVE-2024-40000"
	pub := Record(RecordSpec{ID: id, Version: 1, Severity: "HIGH", Score: 7.2, CWE: "CWE-89"})
	mustUpsert(t, s, pub, Record(RecordSpec{ID: "CVE-2024-40001", Version: 1}))
	rej := Record(RecordSpec{ID: id, Version: 2, Rejected: true})
	res, err := s.UpsertCVEs(ctx, []*cve.Record{rej})
	if err != nil || res.Written != 1 {
		t.Fatalf("PUBLISHED→REJECTED: %+v, %v; want written", res, err)
	}
	got := mustGet(t, s, id).Record
	if got.State != cve.StateRejected || len(got.Metrics) != 0 || len(got.Problems) != 0 || got.DateRejected.IsZero() {
		t.Errorf("after rejection: state %s, %d metrics, %d problems, dateRejected %v; want REJECTED with none",
			got.State, len(got.Metrics), len(got.Problems), got.DateRejected)
	}
	st, err := s.CVEStats(ctx)
	if err != nil {
		t.Fatalf("CVEStats: %v", err)
	}
	if st.Records != 2 || st.Rejected != 1 {
		t.Errorf("stats: %d records, %d rejected; want 2 and 1 (the row is kept)", st.Records, st.Rejected)
	}
	page, err := s.SearchCVEs(ctx, store.CVEQuery{State: "rejected"})
	if err != nil {
		t.Fatalf("SearchCVEs: %v", err)
	}
	if page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != id || page.Items[0].State != cve.StateRejected {
		t.Errorf("search state=REJECTED: %+v, want just %s", page, id)
	}
	page, err = s.SearchCVEs(ctx, store.CVEQuery{CWE: "CWE-89"})
	if err != nil || page.Total != 0 {
		t.Errorf("search by the CWE the rejected version dropped: total %d, %v; want 0", page.Total, err)
	}
}

func testInvalidInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	good := Records(2024, 3, 1)
	tests := []struct {
		name  string
		batch []*cve.Record
	}{
		{"nil record", []*cve.Record{good[0], nil, good[1]}},
		{"empty ID", []*cve.Record{good[0], {State: cve.StatePublished, DateUpdated: Base}, good[2]}},
	}
	for _, tc := range tests {
		res, err := s.UpsertCVEs(ctx, tc.batch)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", tc.name, err)
		}
		if res != (store.UpsertResult{}) {
			t.Errorf("%s: result %+v, want zero", tc.name, res)
		}
	}
	st, err := s.CVEStats(ctx)
	if err != nil || st.Records != 0 {
		t.Errorf("after refused batches: %d records, %v; want nothing written", st.Records, err)
	}
	if err := s.UpsertKEV(ctx, "v", []kev.Entry{{CVEID: ""}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpsertKEV without cveID: %v, want ErrInvalid", err)
	}
	for _, sc := range []epss.Score{{CVEID: "", Date: Base}, {CVEID: "CVE-2024-1", Score: 0.5}, {CVEID: "CVE-2024-1", Score: 1.5, Date: Base}} {
		if err := s.UpsertEPSS(ctx, []epss.Score{sc}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpsertEPSS(%+v): %v, want ErrInvalid", sc, err)
		}
	}
}

func testConcurrentUpserts(t *testing.T, s store.Store) {
	ctx := context.Background()
	const ids, versions, writers = 40, 4, 4
	var all []*cve.Record
	for v := 1; v <= versions; v++ {
		all = append(all, Records(2022, ids, v)...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	written := make(chan int, writers)
	for w := 0; w < writers; w++ {
		recs := slices.Clone(all)
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for start := 0; start < len(recs); start += 25 {
				res, err := s.UpsertCVEs(ctx, recs[start:min(start+25, len(recs))])
				if err != nil {
					errs <- err
					return
				}
				n += res.Written
			}
			written <- n
		}()
	}
	wg.Wait()
	close(errs)
	close(written)
	for err := range errs {
		t.Errorf("concurrent UpsertCVEs: %v", err)
	}
	total := 0
	for n := range written {
		total += n
	}
	if total < ids || total > ids*versions {
		t.Errorf("%d writes in all, want between %d and %d", total, ids, ids*versions)
	}
	latest := Records(2022, ids, versions)
	for _, r := range latest {
		got := mustGet(t, s, r.ID).Record
		if !got.DateUpdated.Equal(Normalize(r).DateUpdated) {
			t.Errorf("%s: stored version from %v, want the latest %v", r.ID, got.DateUpdated, r.DateUpdated)
		}
		if len(got.References) != len(r.References) || len(got.Descriptions) != len(r.Descriptions) {
			t.Errorf("%s: %d references and %d descriptions, want %d and %d (children of one version only)",
				r.ID, len(got.References), len(got.Descriptions), len(r.References), len(r.Descriptions))
		}
	}
}

// searchFixture stores records with known attributes for the search tests.
func searchFixture(t *testing.T, s store.Store) []*cve.Record {
	day := func(d int) time.Time { return time.Date(2024, 3, d, 12, 0, 0, 0, time.UTC) }
	recs := []*cve.Record{
		Record(RecordSpec{ID: "CVE-2024-0101", Title: "Log4j remote code execution", Description: "JNDI lookup in log4j allows remote code execution.",
			Severity: "CRITICAL", Score: 10, CWE: "CWE-502", KEV: true, Published: day(1)}),
		Record(RecordSpec{ID: "CVE-2024-0102", Title: "Stored cross-site scripting in Wiki", Description: "Cross-site scripting (XSS) in the wiki editor.",
			Severity: "MEDIUM", Score: 5.4, CWE: "CWE-79", Published: day(2)}),
		Record(RecordSpec{ID: "CVE-2024-0103", Title: "SQL injection in login form", Description: "SQL injection via the username parameter.",
			Severity: "HIGH", Score: 8.8, CWE: "CWE-89", Published: day(3)}),
		Record(RecordSpec{ID: "CVE-2024-0104", Title: "Reflected cross-site scripting", Description: "Reflected XSS in search results.",
			Severity: "MEDIUM", Score: 6.1, CWE: "CWE-79", Published: day(4)}),
		Record(RecordSpec{ID: "CVE-2024-0105", Title: "Heap overflow in image decoder", Description: "Out-of-bounds write in the PNG decoder.",
			Severity: "HIGH", Score: 7.8, CWE: "CWE-787", Published: day(5)}),
		Record(RecordSpec{ID: "CVE-2024-0106", Title: "Information disclosure", Description: "Verbose errors disclose paths.",
			Severity: "LOW", Score: 3.1, CWE: "CWE-209", Published: day(5)}),
		Record(RecordSpec{ID: "CVE-2024-0107", Title: "Unscored issue in Log4j configuration", Description: "Configuration parsing weakness.",
			CWE: "CWE-20", Published: day(6)}),
		Record(RecordSpec{ID: "CVE-2024-0108", Rejected: true}),
		Record(RecordSpec{ID: "CVE-2024-0109", Title: "Unicode handling flaw in Zürich café module", Description: "Naïve normalization of ﬁlenames; 日本語 text.",
			Severity: "MEDIUM", Score: 4.3, CWE: "CWE-176", Published: day(7)}),
	}
	mustUpsert(t, s, recs...)
	// In the KEV catalog but without the ADP KEV metric.
	if err := s.UpsertKEV(context.Background(), "2024.03.10", []kev.Entry{{CVEID: "CVE-2024-0103", VendorProject: "Example",
		Product: "Login", VulnerabilityName: "SQLi", DateAdded: day(8)}}); err != nil {
		t.Fatalf("UpsertKEV: %v", err)
	}
	return recs
}

func ids(page store.CVEPage) []string {
	out := make([]string, len(page.Items))
	for i, it := range page.Items {
		out[i] = it.ID
	}
	return out
}

func testSearch(t *testing.T, s store.Store) {
	searchFixture(t, s)
	yes, no := true, false
	tests := []struct {
		name string
		q    store.CVEQuery
		want []string // in order
	}{
		{"all, newest first", store.CVEQuery{}, []string{"CVE-2024-0109", "CVE-2024-0107", "CVE-2024-0105", "CVE-2024-0106",
			"CVE-2024-0104", "CVE-2024-0103", "CVE-2024-0102", "CVE-2024-0101", "CVE-2024-0108"}},
		{"severity", store.CVEQuery{Severities: []string{"HIGH"}}, []string{"CVE-2024-0105", "CVE-2024-0103"}},
		{"severities, lower case", store.CVEQuery{Severities: []string{"critical", "low"}}, []string{"CVE-2024-0106", "CVE-2024-0101"}},
		{"unscored", store.CVEQuery{Severities: []string{""}, State: "PUBLISHED"}, []string{"CVE-2024-0107"}},
		{"KEV: ADP metric or catalog", store.CVEQuery{KEV: &yes}, []string{"CVE-2024-0103", "CVE-2024-0101"}},
		{"not KEV", store.CVEQuery{KEV: &no, Severities: []string{"HIGH", "CRITICAL"}}, []string{"CVE-2024-0105"}},
		{"CWE", store.CVEQuery{CWE: "CWE-79"}, []string{"CVE-2024-0104", "CVE-2024-0102"}},
		{"CWE lower case", store.CVEQuery{CWE: "cwe-787"}, []string{"CVE-2024-0105"}},
		{"state", store.CVEQuery{State: cve.StateRejected}, []string{"CVE-2024-0108"}},
		{"published range", store.CVEQuery{PublishedFrom: time.Date(2024, 3, 3, 12, 0, 0, 0, time.UTC),
			PublishedTo: time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)}, []string{"CVE-2024-0104", "CVE-2024-0103"}},
		{"text", store.CVEQuery{Text: "cross-site scripting"}, nil}, // order by relevance: checked as a set below
		{"text AND filter", store.CVEQuery{Text: "log4j", Severities: []string{"CRITICAL"}}, []string{"CVE-2024-0101"}},
		{"text by CVE ID", store.CVEQuery{Text: "CVE-2024-0105"}, []string{"CVE-2024-0105"}},
		{"text stemming", store.CVEQuery{Text: "injections"}, []string{"CVE-2024-0103"}},
		{"text in a non-English description", store.CVEQuery{Text: "Schwachstelle ermöglicht", CWE: "CWE-787"}, []string{"CVE-2024-0105"}},
		{"text unicode", store.CVEQuery{Text: "zürich café 日本語"}, []string{"CVE-2024-0109"}},
		{"text no match", store.CVEQuery{Text: "kubernetes"}, []string{}},
		{"no match", store.CVEQuery{CWE: "CWE-1"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.SearchCVEs(context.Background(), tc.q)
			if err != nil {
				t.Fatalf("SearchCVEs(%+v): %v", tc.q, err)
			}
			got := ids(page)
			want := tc.want
			if tc.name == "text" {
				want = []string{"CVE-2024-0102", "CVE-2024-0104"}
				sort.Strings(got)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("IDs differ (-want +got):\n%s", diff)
			}
			if page.Total != len(want) {
				t.Errorf("Total = %d, want %d", page.Total, len(want))
			}
			if page.Items == nil {
				t.Errorf("Items is nil, want an empty list")
			}
		})
	}

	// Summaries carry the indexed fields.
	page, err := s.SearchCVEs(context.Background(), store.CVEQuery{Text: "log4j remote"})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("search log4j remote: %+v, %v", page, err)
	}
	want := store.CVESummary{ID: "CVE-2024-0101", State: cve.StatePublished, Title: "Log4j remote code execution",
		Description: "JNDI lookup in log4j allows remote code execution.", Severity: "CRITICAL", Score: 10, KEV: true,
		CWEs: []string{"CWE-502"}, DatePublished: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		DateUpdated: Base.Format("2006-01-02T15:04:05.000Z")}
	if diff := cmp.Diff(want, page.Items[0]); diff != "" {
		t.Errorf("summary differs (-want +got):\n%s", diff)
	}
}

func testSearchRelevance(t *testing.T, s store.Store) {
	// The term in the title ranks above the term only in a description.
	mustUpsert(t, s,
		Record(RecordSpec{ID: "CVE-2024-0201", Title: "Issue in parser", Description: "A deserialization flaw.", Published: Base.AddDate(0, 0, -1)}),
		Record(RecordSpec{ID: "CVE-2024-0202", Title: "Deserialization of untrusted data", Description: "Unsafe deserialization of untrusted data in the deserialization layer.", Published: Base.AddDate(0, 0, -9)}),
		Record(RecordSpec{ID: "CVE-2024-0203", Title: "Unrelated", Description: "Nothing to see.", Published: Base}),
	)
	page, err := s.SearchCVEs(context.Background(), store.CVEQuery{Text: "deserialization"})
	if err != nil {
		t.Fatalf("SearchCVEs: %v", err)
	}
	if diff := cmp.Diff([]string{"CVE-2024-0202", "CVE-2024-0201"}, ids(page)); diff != "" {
		t.Errorf("relevance order differs (-want +got):\n%s", diff)
	}
}

func testSearchPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	recs := Records(2020, store.MaxLimit+20, 1)
	mustUpsert(t, s, recs...)
	all := make([]string, 0, len(recs))
	for p := 0; ; p++ {
		page, err := s.SearchCVEs(ctx, store.CVEQuery{Limit: 300, Offset: p * 300})
		if err != nil {
			t.Fatalf("page %d: %v", p, err)
		}
		if page.Total != len(recs) {
			t.Fatalf("page %d: Total = %d, want %d", p, page.Total, len(recs))
		}
		if len(page.Items) == 0 {
			break
		}
		all = append(all, ids(page)...)
	}
	if len(all) != len(recs) {
		t.Fatalf("paged through %d records, want %d", len(all), len(recs))
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("%s on two pages", id)
		}
		seen[id] = true
	}
	// Pages follow date_published desc, then ID.
	byID := map[string]*cve.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool { return listedBefore(byID[all[i]], byID[all[j]]) }) {
		t.Errorf("pages are not in date_published desc, ID order")
	}
	for _, tc := range []struct {
		limit, offset, want int
	}{
		{0, 0, store.DefaultLimit},
		{-5, -5, store.DefaultLimit},
		{1, 0, 1},
		{5000, 0, store.MaxLimit},
		{store.MaxLimit, 1010, 10},
		{10, 5000, 0},
	} {
		page, err := s.SearchCVEs(ctx, store.CVEQuery{Limit: tc.limit, Offset: tc.offset})
		if err != nil {
			t.Fatalf("limit %d offset %d: %v", tc.limit, tc.offset, err)
		}
		if len(page.Items) != tc.want || page.Total != len(recs) {
			t.Errorf("limit %d offset %d: %d items, total %d; want %d items, total %d",
				tc.limit, tc.offset, len(page.Items), page.Total, tc.want, len(recs))
		}
	}
}

// listedBefore reports whether a is listed before b when no text is
// searched: newest datePublished first, unpublished last, then by ID.
func listedBefore(a, b *cve.Record) bool {
	switch {
	case a.DatePublished.Equal(b.DatePublished):
		return a.ID < b.ID
	case a.DatePublished.IsZero():
		return false
	case b.DatePublished.IsZero():
		return true
	}
	return a.DatePublished.After(b.DatePublished)
}

// HostileText are search strings that must never make a search fail.
var HostileText = []string{
	`"`, `""`, `'`, `"unterminated`, `log4j"`, `a" OR "b`, `*`, `log*`, `^log4j`, `-log4j`, `+log4j`,
	`log4j AND`, `AND OR NOT`, `NEAR(log4j remote, 2)`, `title:log4j`, `{title}: log4j`, `(`, `)`, `()`, `(log4j`,
	`log4j:*`, `!log4j`, `log4j & | ! <->`, `'; DROP TABLE cves; --`, `%_\`, `\x00`, "nul\x00byte", "\xff\xfe invalid utf8",
	`🔥🔥`, `日本語`, `ＬＯＧ４Ｊ`, "tab\tnew\nline", strings.Repeat("a", 10000), strings.Repeat("log4j ", 500),
	`the`, `a an the of`, `.`, `-`, `CVE-`, `-2024`, `:`, `@@`, `$1`, `?`, `'' OR 1=1`,
}

func testSearchHostileText(t *testing.T, s store.Store) {
	recs := searchFixture(t, s)
	for _, text := range HostileText {
		page, err := s.SearchCVEs(context.Background(), store.CVEQuery{Text: text, Limit: 5})
		if err != nil {
			t.Errorf("SearchCVEs(%q): %v", truncate(text), err)
			continue
		}
		if page.Items == nil || page.Total < len(page.Items) {
			t.Errorf("SearchCVEs(%q): inconsistent page %+v", truncate(text), page)
		}
	}
	st, err := s.CVEStats(context.Background())
	if err != nil || st.Records != len(recs) {
		t.Errorf("after hostile searches: %d records, %v; want %d", st.Records, err, len(recs))
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func testKEV(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUpsert(t, s, Records(2024, 5, 1)...)
	first := []kev.Entry{
		{CVEID: "CVE-2024-10001", VendorProject: "Example", Product: "Widget", VulnerabilityName: "Widget RCE",
			DateAdded: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), ShortDescription: "Remote code execution.",
			RequiredAction: "Apply mitigations per vendor instructions.", DueDate: time.Date(2024, 5, 22, 0, 0, 0, 0, time.UTC),
			KnownRansomwareCampaignUse: "Known", Notes: "https://example.com/notes", CWEs: []string{"CWE-20", "CWE-787"}},
		{CVEID: "CVE-2024-10002", VendorProject: "Example", Product: "Gadget", DateAdded: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC),
			KnownRansomwareCampaignUse: "Unknown"},
		{CVEID: "CVE-1999-0001", VendorProject: "Not stored", DateAdded: time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC)},
		{CVEID: "CVE-2024-10002", VendorProject: "Example", Product: "Gadget (listed twice: last wins)", DateAdded: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)},
	}
	if err := s.UpsertKEV(ctx, "2024.05.03", first); err != nil {
		t.Fatalf("UpsertKEV: %v", err)
	}
	d := mustGet(t, s, "CVE-2024-10001")
	if diff := cmp.Diff(&first[0], d.KEV); diff != "" {
		t.Errorf("KEV entry differs (-want +got):\n%s", diff)
	}
	if got := mustGet(t, s, "CVE-2024-10002").KEV; got == nil || got.Product != "Gadget (listed twice: last wins)" {
		t.Errorf("duplicate entry: got %+v, want the last one", got)
	}
	if got := mustGet(t, s, "CVE-2024-10003").KEV; got != nil {
		t.Errorf("unlisted CVE has KEV entry %+v", got)
	}
	// Records(…) flags index 0 with the ADP KEV metric; the catalog adds 1 and 2.
	yes := true
	page, err := s.SearchCVEs(ctx, store.CVEQuery{KEV: &yes})
	if err != nil {
		t.Fatalf("SearchCVEs: %v", err)
	}
	got := ids(page)
	sort.Strings(got)
	if diff := cmp.Diff([]string{"CVE-2024-10000", "CVE-2024-10001", "CVE-2024-10002"}, got); diff != "" {
		t.Errorf("KEV search differs (-want +got):\n%s", diff)
	}
	for _, it := range page.Items {
		if !it.KEV {
			t.Errorf("summary %s: KEV false in a KEV search", it.ID)
		}
	}

	// A new catalog replaces the old one entirely.
	if err := s.UpsertKEV(ctx, "2024.06.01", first[1:2]); err != nil {
		t.Fatalf("UpsertKEV: %v", err)
	}
	if got := mustGet(t, s, "CVE-2024-10001").KEV; got != nil {
		t.Errorf("entry dropped from the catalog is still returned: %+v", got)
	}
	st, err := s.CVEStats(ctx)
	if err != nil || st.KEV != 2 {
		t.Errorf("stats KEV = %d, %v; want 2", st.KEV, err)
	}
	if err := s.UpsertKEV(ctx, "empty", nil); err != nil {
		t.Fatalf("UpsertKEV(empty): %v", err)
	}
	if got := mustGet(t, s, "CVE-2024-10002").KEV; got != nil {
		t.Errorf("empty catalog left entry %+v", got)
	}
}

func testEPSS(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUpsert(t, s, Records(2024, 3, 1)...)
	// Synthetic EPSS values: no real EPSS file is available offline.
	d1, d2 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 10, 2, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name  string
		in    []epss.Score
		want  map[string]float64
		wantN int
	}{
		{"insert", []epss.Score{
			{CVEID: "CVE-2024-10000", Score: 0.5, Percentile: 0.9, Date: d1, ModelVersion: "v2023.03.01"},
			{CVEID: "CVE-2024-10001", Score: 0.01, Percentile: 0.2, Date: d1},
			{CVEID: "CVE-2099-0001", Score: 0.3, Percentile: 0.5, Date: d1}, // not stored: kept for later
		}, map[string]float64{"CVE-2024-10000": 0.5, "CVE-2024-10001": 0.01}, 2},
		{"newer replaces, older ignored", []epss.Score{
			{CVEID: "CVE-2024-10000", Score: 0.7, Percentile: 0.95, Date: d2, ModelVersion: "v2025.03.14"},
			{CVEID: "CVE-2024-10001", Score: 0.99, Percentile: 0.99, Date: d1.AddDate(0, 0, -1)},
		}, map[string]float64{"CVE-2024-10000": 0.7, "CVE-2024-10001": 0.01}, 2},
		{"equal date ignored; duplicates: latest wins", []epss.Score{
			{CVEID: "CVE-2024-10000", Score: 0.1, Percentile: 0.1, Date: d2},
			{CVEID: "CVE-2024-10002", Score: 0.2, Percentile: 0.3, Date: d1},
			{CVEID: "CVE-2024-10002", Score: 0.25, Percentile: 0.35, Date: d2},
		}, map[string]float64{"CVE-2024-10000": 0.7, "CVE-2024-10001": 0.01, "CVE-2024-10002": 0.25}, 3},
	}
	for _, st := range steps {
		if err := s.UpsertEPSS(ctx, st.in); err != nil {
			t.Fatalf("%s: UpsertEPSS: %v", st.name, err)
		}
		for id, want := range st.want {
			d := mustGet(t, s, id)
			if d.EPSS == nil || d.EPSS.Score != want {
				t.Errorf("%s: %s EPSS = %+v, want score %v", st.name, id, d.EPSS, want)
			}
		}
		stats, err := s.CVEStats(ctx)
		if err != nil || stats.EPSS != st.wantN {
			t.Errorf("%s: stats EPSS = %d, %v; want %d", st.name, stats.EPSS, err, st.wantN)
		}
	}
	d := mustGet(t, s, "CVE-2024-10000")
	want := &epss.Score{CVEID: "CVE-2024-10000", Score: 0.7, Percentile: 0.95, Date: d2, ModelVersion: "v2025.03.14"}
	if diff := cmp.Diff(want, d.EPSS); diff != "" {
		t.Errorf("EPSS differs (-want +got):\n%s", diff)
	}
	page, err := s.SearchCVEs(ctx, store.CVEQuery{})
	if err != nil {
		t.Fatalf("SearchCVEs: %v", err)
	}
	for _, it := range page.Items {
		want, ok := steps[2].want[it.ID]
		switch {
		case ok && (it.EPSS == nil || *it.EPSS != want):
			t.Errorf("summary %s: EPSS %v, want %v", it.ID, it.EPSS, want)
		case !ok && it.EPSS != nil:
			t.Errorf("summary %s: EPSS %v, want none", it.ID, *it.EPSS)
		}
	}
	if err := s.UpsertEPSS(ctx, nil); err != nil {
		t.Errorf("UpsertEPSS(nil): %v", err)
	}
}

func testStats(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, err := s.CVEStats(ctx)
	if err != nil {
		t.Fatalf("CVEStats on empty store: %v", err)
	}
	if diff := cmp.Diff(store.CVEStats{BySeverity: map[string]int{}}, st); diff != "" {
		t.Errorf("empty stats differ (-want +got):\n%s", diff)
	}
	recs := Records(2024, 200, 1)
	mustUpsert(t, s, recs...)
	want := store.CVEStats{BySeverity: map[string]int{}}
	for _, r := range recs {
		want.Records++
		if r.State == cve.StateRejected {
			want.Rejected++
		}
		if r.KEV != nil {
			want.KEV++
		}
		sev, _ := r.MaxSeverity()
		want.BySeverity[sev]++
	}
	st, err = s.CVEStats(ctx)
	if err != nil {
		t.Fatalf("CVEStats: %v", err)
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats differ (-want +got):\n%s", diff)
	}
}

func testVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	recs := []*cve.Record{
		Record(RecordSpec{ID: "CVE-2024-10000", Version: 3}),
		Record(RecordSpec{ID: "CVE-2024-1000", Version: 2}),
		Record(RecordSpec{ID: "CVE-1999-0001", Version: 1}),
		Record(RecordSpec{ID: "CVE-2024-9999", Rejected: true, Version: 4}),
		Record(RecordSpec{ID: "CVE-2024-100000", Version: 5}),
	}
	mustUpsert(t, s, recs...)
	type row struct{ ID, Updated, State string }
	var want []row
	for _, r := range recs {
		want = append(want, row{r.ID, r.DateUpdatedRaw, r.State})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].ID < want[j].ID })
	var got []row
	if err := s.CVEVersions(ctx, func(id, updated, state string) error {
		got = append(got, row{id, updated, state})
		return nil
	}); err != nil {
		t.Fatalf("CVEVersions: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versions differ (-want +got):\n%s", diff)
	}
	stop := errors.New("stop here")
	n := 0
	err := s.CVEVersions(ctx, func(string, string, string) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("CVEVersions with failing fn: err %v after %d calls, want %v after 2", err, n, stop)
	}
}

func testState(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetState(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetState(missing): %v, want ErrNotFound", err)
	}
	steps := []struct{ key, value string }{
		{"cve/feed/position", `{"release":"cve_2024-10-22_0800Z"}`},
		{"cve/feed/position", `{"release":"cve_2024-10-22_0900Z"}`},
		{"binary", "\x00\x01\xff"},
		{"empty", ""},
		{"ünïcödé key", "v"},
	}
	want := map[string]string{}
	for _, st := range steps {
		if err := s.PutState(ctx, st.key, []byte(st.value)); err != nil {
			t.Fatalf("PutState(%q): %v", st.key, err)
		}
		want[st.key] = st.value
	}
	for k, v := range want {
		got, err := s.GetState(ctx, k)
		if err != nil || string(got) != v || got == nil {
			t.Errorf("GetState(%q) = %q, %v; want %q", k, got, err, v)
		}
	}
}

func testDeadLetters(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, err := s.ListDeadLetters(ctx, 10, 0); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v, %v", got, err)
	}
	t0 := time.Date(2024, 10, 22, 8, 0, 0, 0, time.UTC)
	in := []store.DeadLetter{
		{Topic: "cve.records", Key: "CVE-2024-1", Value: []byte(`{"broken":`), Headers: map[string]string{"attempt": "3", "source": "feed"},
			Reason: "parse CVE record: unexpected end of JSON input", CreatedAt: t0},
		{Topic: "cve.records", Key: "CVE-2024-2", Value: []byte{0, 1, 2}, Reason: "second", CreatedAt: t0.Add(time.Minute)},
		{Topic: "audit", Key: "", Value: nil, Reason: "third", CreatedAt: t0.Add(2 * time.Minute)},
	}
	for _, dl := range in {
		if err := s.AddDeadLetter(ctx, dl); err != nil {
			t.Fatalf("AddDeadLetter: %v", err)
		}
	}
	before := time.Now()
	if err := s.AddDeadLetter(ctx, store.DeadLetter{Topic: "now", Reason: "no time given"}); err != nil {
		t.Fatalf("AddDeadLetter: %v", err)
	}
	all, err := s.ListDeadLetters(ctx, 0, 0)
	if err != nil {
		t.Fatalf("ListDeadLetters: %v", err)
	}
	if len(all) != 4 {
		t.Fatalf("%d dead letters, want 4", len(all))
	}
	if all[0].Topic != "now" || all[0].CreatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("newest = %+v, want the one stamped now", all[0])
	}
	for i, want := range []store.DeadLetter{in[2], in[1], in[0]} {
		got := all[i+1]
		if got.ID == 0 {
			t.Errorf("dead letter %d has no ID", i)
		}
		want.ID = got.ID
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("dead letter %d differs (-want +got):\n%s", i, diff)
		}
	}
	page, err := s.ListDeadLetters(ctx, 2, 1)
	if err != nil || len(page) != 2 || page[0].Reason != "third" || page[1].Reason != "second" {
		t.Errorf("limit 2 offset 1: %+v, %v", page, err)
	}
}

// testRealRecords stores real CVE records parsed by cve.Parse and reads
// them back.
func testRealRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	recs := RealRecords(t, 3000)
	mustUpsert(t, s, recs...)
	st, err := s.CVEStats(ctx)
	if err != nil {
		t.Fatalf("CVEStats: %v", err)
	}
	want := store.CVEStats{BySeverity: map[string]int{}}
	for _, r := range recs {
		want.Records++
		if r.State == cve.StateRejected {
			want.Rejected++
		}
		if r.KEV != nil {
			want.KEV++
		}
		sev, _ := r.MaxSeverity()
		want.BySeverity[strings.ToUpper(sev)]++
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats differ (-want +got):\n%s", diff)
	}
	for i := 0; i < len(recs); i += 97 {
		r := recs[i]
		got := mustGet(t, s, r.ID)
		w := Normalize(r)
		if s.Backend() == "postgres" {
			w = stripNUL(w)
		}
		if diff := cmp.Diff(w, Normalize(got.Record), cmpOpts...); diff != "" {
			t.Errorf("%s differs (-want +got):\n%s", r.ID, diff)
		}
		if string(got.Record.Raw) != string(r.Raw) {
			t.Errorf("%s: raw JSON not kept exactly", r.ID)
		}
		if r.Title != "" && r.State == cve.StatePublished {
			page, err := s.SearchCVEs(ctx, store.CVEQuery{Text: r.ID + " " + r.Title, Limit: 5})
			if err != nil {
				t.Fatalf("search %s: %v", r.ID, err)
			}
			if len(page.Items) == 0 || page.Items[0].ID != r.ID {
				t.Errorf("search by ID and title of %s: got %v first", r.ID, ids(page))
			}
		}
	}
	// Replaying the whole set is a no-op.
	res, err := s.UpsertCVEs(ctx, recs[:500])
	if err != nil || res != (store.UpsertResult{Skipped: 500}) {
		t.Errorf("replay: %+v, %v; want 500 skipped", res, err)
	}
}

// stripNUL removes NUL bytes from the text fields PostgreSQL stores.
func stripNUL(r *cve.Record) *cve.Record {
	s := func(v string) string { return strings.ReplaceAll(v, "\x00", "") }
	c := *r
	c.Title = s(c.Title)
	c.Descriptions = slices.Clone(c.Descriptions)
	for i := range c.Descriptions {
		c.Descriptions[i].Value = s(c.Descriptions[i].Value)
	}
	c.References = slices.Clone(c.References)
	for i := range c.References {
		c.References[i].Tags = slices.Clone(c.References[i].Tags)
		for j := range c.References[i].Tags {
			c.References[i].Tags[j] = s(c.References[i].Tags[j])
		}
	}
	return &c
}
