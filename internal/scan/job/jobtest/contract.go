// Package jobtest holds the contract every job.Store implementation must
// pass.
package jobtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// Base is the creation time of the first sample scan; the others follow a
// second apart.
var Base = time.Date(2026, 4, 2, 9, 30, 0, 123456000, time.UTC)

// levels cycles through every severity so severity filters select some
// findings and not all.
var levels = []scan.Level{scan.LevelLow, scan.LevelCritical, scan.LevelUnknown, scan.LevelHigh, scan.LevelMedium, scan.LevelNone, scan.LevelHigh}

// SampleResult returns a report of n packages and m findings whose
// severities, aliases, fixed versions and enrichments vary.
func SampleResult(n, m int) job.Result {
	var r job.Result
	for i := range n {
		r.Packages = append(r.Packages, scan.Package{
			Name: fmt.Sprintf("pkg-%02d", i), Version: fmt.Sprintf("1.%d.0", i), Ecosystem: "Alpine:v3.10",
			Origin: fmt.Sprintf("origin-%d", i%3), Location: "lib/apk/db/installed", Layer: "sha256:" + fmt.Sprint(i%2), PURL: fmt.Sprintf("pkg:apk/alpine/pkg-%02d@1.%d.0", i, i),
		})
	}
	for i := range m {
		f := scan.Finding{
			Package:    r.Packages[i%max(n, 1)],
			AdvisoryID: fmt.Sprintf("CVE-2026-%04d", 1000+i),
			Summary:    fmt.Sprintf("flaw %d — ünïcode", i),
			Severity:   scan.Severity{Level: levels[i%len(levels)]},
		}
		if i%2 == 0 {
			f.Aliases = []string{fmt.Sprintf("GHSA-%04d", i)}
			f.FixedVersions = []string{fmt.Sprintf("1.%d.1", i)}
		}
		if f.Severity.Level >= scan.LevelHigh {
			f.Severity.Score, f.Severity.Source, f.Severity.Vector = 8.8, "cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"
		}
		if i%3 == 0 {
			f.Enrichment = &scan.Enrichment{
				CVEs: []string{f.AdvisoryID},
				CVSS: []scan.CVSS{{CVE: f.AdvisoryID, Source: "cna", Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Score: 9.8, Level: scan.LevelCritical}},
				KEV:  &scan.KEV{CVE: f.AdvisoryID, DateAdded: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Source: "kev-catalog"},
				EPSS: &scan.EPSS{CVE: f.AdvisoryID, Score: 0.5, Percentile: 0.9},
			}
		}
		r.Findings = append(r.Findings, f)
	}
	return r
}

// digestHex is a sha256 digest's hex part for image references in tests.
const digestHex = "6457d53fb065d6f250e1504b9bc42d5b6c65941d57532c072d929dd0628977d0"

// RunStoreContract checks a Store: newStore returns an empty one.
func RunStoreContract(t *testing.T, newStore func(t *testing.T) job.Store) {
	ctx := context.Background()
	newScan := func(i int) job.Scan {
		return job.Scan{
			ID: fmt.Sprintf("%032x", i+1), State: job.StateQueued, Kind: job.KindArchive,
			Target: fmt.Sprintf("registry.example/app-%d:1.0", i%3), RequestedBy: "alice",
			CreatedAt: Base.Add(time.Duration(i) * time.Second),
		}
	}
	mustCreate := func(t *testing.T, st job.Store, s job.Scan) {
		t.Helper()
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create %s: %v", s.ID, err)
		}
	}
	get := func(t *testing.T, st job.Store, id string) job.Scan {
		t.Helper()
		s, err := st.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		return s
	}
	// complete runs a scan through queued → running → done.
	complete := func(t *testing.T, st job.Store, s job.Scan, r job.Result) {
		t.Helper()
		mustCreate(t, st, s)
		if err := st.Start(ctx, s.ID, s.CreatedAt.Add(time.Millisecond)); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if err := st.Complete(ctx, s.ID, s.CreatedAt.Add(time.Second), r); err != nil {
			t.Fatalf("Complete: %v", err)
		}
	}

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		st := newStore(t)
		s := newScan(0)
		s.Target = "üpload \"name\" 'x'"
		s.CreatedAt = time.Date(2026, 4, 2, 11, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
		mustCreate(t, st, s)
		got := get(t, st, s.ID)
		want := s
		want.CreatedAt = s.CreatedAt.UTC().Truncate(time.Microsecond)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Get = %+v\nwant %+v", got, want)
		}
		if err := st.Create(ctx, s); err == nil {
			t.Error("Create with a taken ID succeeded")
		}
		if _, err := st.Get(ctx, "ffffffffffffffffffffffffffffffff"); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("Get unknown: %v, want ErrNotFound", err)
		}
	})

	t.Run("LifeCycle", func(t *testing.T) {
		st := newStore(t)
		s := newScan(0)
		mustCreate(t, st, s)
		started := Base.Add(2 * time.Second)
		if err := st.Complete(ctx, s.ID, started, job.Result{}); !errors.Is(err, job.ErrConflict) {
			t.Errorf("Complete of a queued scan: %v, want ErrConflict", err)
		}
		if err := st.Start(ctx, s.ID, started); err != nil {
			t.Fatal(err)
		}
		if err := st.Start(ctx, s.ID, started); !errors.Is(err, job.ErrConflict) {
			t.Errorf("Start of a running scan: %v, want ErrConflict", err)
		}
		if err := st.MarkPublished(ctx, s.ID); !errors.Is(err, job.ErrConflict) {
			t.Errorf("MarkPublished of a running scan: %v, want ErrConflict", err)
		}
		r := SampleResult(5, 9)
		finished := started.Add(1500 * time.Millisecond)
		if err := st.Complete(ctx, s.ID, finished, r); err != nil {
			t.Fatal(err)
		}
		got := get(t, st, s.ID)
		if got.State != job.StateDone || !got.StartedAt.Equal(started) || !got.FinishedAt.Equal(finished) || got.Published || got.Error != "" {
			t.Errorf("after Complete: %+v", got)
		}
		if want := job.Summarize(r.Packages, r.Findings); !reflect.DeepEqual(got.Summary, want) {
			t.Errorf("Summary = %+v, want %+v", got.Summary, want)
		}
		if err := st.Fail(ctx, s.ID, finished, "late"); !errors.Is(err, job.ErrConflict) {
			t.Errorf("Fail of a done scan: %v, want ErrConflict", err)
		}
		if ids, err := st.Unpublished(ctx); err != nil || !slices.Equal(ids, []string{s.ID}) {
			t.Errorf("Unpublished = %v, %v; want [%s]", ids, err, s.ID)
		}
		if err := st.MarkPublished(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if !get(t, st, s.ID).Published {
			t.Error("MarkPublished did not stick")
		}
		if ids, err := st.Unpublished(ctx); err != nil || len(ids) != 0 {
			t.Errorf("Unpublished after MarkPublished = %v, %v", ids, err)
		}
		for name, err := range map[string]error{
			"Start":         st.Start(ctx, "nope", started),
			"Complete":      st.Complete(ctx, "nope", started, r),
			"Fail":          st.Fail(ctx, "nope", started, "x"),
			"MarkPublished": st.MarkPublished(ctx, "nope"),
		} {
			if !errors.Is(err, job.ErrNotFound) {
				t.Errorf("%s of an unknown scan: %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("FailKeepsReason", func(t *testing.T) {
		st := newStore(t)
		queued, running := newScan(0), newScan(1)
		mustCreate(t, st, queued)
		mustCreate(t, st, running)
		if err := st.Start(ctx, running.ID, Base); err != nil {
			t.Fatal(err)
		}
		for _, s := range []job.Scan{queued, running} {
			if err := st.Fail(ctx, s.ID, Base.Add(time.Minute), "scan image: layer 2: "+s.ID+" ✗"); err != nil {
				t.Fatalf("Fail %s: %v", s.State, err)
			}
			got := get(t, st, s.ID)
			if got.State != job.StateFailed || got.Error != "scan image: layer 2: "+s.ID+" ✗" || !got.FinishedAt.Equal(Base.Add(time.Minute)) {
				t.Errorf("after Fail: %+v", got)
			}
		}
		if err := st.Fail(ctx, queued.ID, Base, "again"); !errors.Is(err, job.ErrConflict) {
			t.Errorf("Fail of a failed scan: %v, want ErrConflict", err)
		}
	})

	t.Run("FailUnfinished", func(t *testing.T) {
		st := newStore(t)
		var want []string
		for i := range 4 {
			s := newScan(i)
			switch i {
			case 0: // stays queued
				mustCreate(t, st, s)
				want = append(want, s.ID)
			case 1: // running
				mustCreate(t, st, s)
				if err := st.Start(ctx, s.ID, Base); err != nil {
					t.Fatal(err)
				}
				want = append(want, s.ID)
			case 2: // done
				complete(t, st, s, SampleResult(1, 1))
			case 3: // failed
				mustCreate(t, st, s)
				if err := st.Fail(ctx, s.ID, Base, "earlier"); err != nil {
					t.Fatal(err)
				}
			}
		}
		ids, err := st.FailUnfinished(ctx, Base.Add(time.Hour), "restart")
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, want) {
			t.Fatalf("FailUnfinished = %v, %v; want %v", ids, err, want)
		}
		for i, wantState := range []job.State{job.StateFailed, job.StateFailed, job.StateDone, job.StateFailed} {
			got := get(t, st, newScan(i).ID)
			if got.State != wantState {
				t.Errorf("scan %d: state %s, want %s", i, got.State, wantState)
			}
			if i < 2 && got.Error != "restart" {
				t.Errorf("scan %d: error %q, want the restart reason", i, got.Error)
			}
			if i == 3 && got.Error != "earlier" {
				t.Errorf("an already failed scan's reason was overwritten: %q", got.Error)
			}
		}
		if ids, err := st.FailUnfinished(ctx, Base, "again"); err != nil || len(ids) != 0 {
			t.Errorf("second FailUnfinished = %v, %v; want none", ids, err)
		}
	})

	t.Run("FindingsRoundTripOrderFilterPage", func(t *testing.T) {
		st := newStore(t)
		s := newScan(0)
		r := SampleResult(6, 23)
		complete(t, st, s, r)
		wantAll := job.SortFindings(r.Findings)
		page, err := st.Findings(ctx, s.ID, job.FindingFilter{Limit: job.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != len(r.Findings) || !reflect.DeepEqual(page.Items, wantAll) {
			t.Fatalf("all findings: total %d\ngot  %+v\nwant %+v", page.Total, page.Items, wantAll)
		}
		for _, least := range []scan.Level{scan.LevelNone, scan.LevelLow, scan.LevelMedium, scan.LevelHigh, scan.LevelCritical} {
			var want []scan.Finding
			for _, f := range wantAll {
				if f.Severity.Level >= least {
					want = append(want, f)
				}
			}
			for _, pg := range []struct{ limit, offset int }{{job.MaxLimit, 0}, {2, 1}, {3, len(want) - 1}, {5, len(want) + 4}} {
				page, err := st.Findings(ctx, s.ID, job.FindingFilter{MinSeverity: least, Limit: pg.limit, Offset: pg.offset})
				if err != nil {
					t.Fatal(err)
				}
				lo := min(pg.offset, len(want))
				wantPage := want[lo:min(len(want), lo+pg.limit)]
				if page.Total != len(want) || len(page.Items) != len(wantPage) || (len(wantPage) > 0 && !reflect.DeepEqual(page.Items, wantPage)) {
					t.Errorf("severity ≥ %s limit %d offset %d: total %d (want %d), %d items (want %d)", least, pg.limit, pg.offset, page.Total, len(want), len(page.Items), len(wantPage))
				}
				if page.Items == nil {
					t.Errorf("severity ≥ %s offset %d: Items is nil, want an empty list", least, pg.offset)
				}
			}
		}
		if _, err := st.Findings(ctx, "nope", job.FindingFilter{}); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("Findings of an unknown scan: %v, want ErrNotFound", err)
		}
		empty := newScan(1)
		complete(t, st, empty, job.Result{})
		if page, err := st.Findings(ctx, empty.ID, job.FindingFilter{}); err != nil || page.Total != 0 || len(page.Items) != 0 {
			t.Errorf("Findings of a clean scan = %+v, %v", page, err)
		}
	})

	t.Run("PackagesPage", func(t *testing.T) {
		st := newStore(t)
		s := newScan(0)
		r := SampleResult(7, 0)
		complete(t, st, s, r)
		page, err := st.Packages(ctx, s.ID, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 7 || !reflect.DeepEqual(page.Items, r.Packages[2:5]) {
			t.Errorf("Packages(3, 2) = %+v, want total 7 and %+v", page, r.Packages[2:5])
		}
		if _, err := st.Packages(ctx, "nope", 1, 0); !errors.Is(err, job.ErrNotFound) {
			t.Errorf("Packages of an unknown scan: %v, want ErrNotFound", err)
		}
	})

	t.Run("LatestDoneByTarget", func(t *testing.T) {
		st := newStore(t)
		const a, b, c, d = "registry.example/a:1", "registry.example/b:1", "registry.example/c@sha256:" + digestHex, "registry.example/d:1"
		type step struct {
			target   string
			state    job.State
			finished time.Duration // after Base
		}
		steps := []step{
			{a, job.StateDone, 10 * time.Second}, // 0: A's latest: created first, finished last
			{a, job.StateDone, 5 * time.Second},  // 1: created later, finished earlier
			{a, job.StateFailed, 20 * time.Second},
			{a, job.StateQueued, 0},
			{b, job.StateFailed, 30 * time.Second},
			{c, job.StateDone, 3 * time.Second}, // 5
			{d, job.StateDone, 30 * time.Second},
			{d, job.StateDone, 30 * time.Second}, // 7: same finish, created later
		}
		ids := make([]string, len(steps))
		for i, sp := range steps {
			s := newScan(i)
			s.Kind, s.Target = job.KindImage, sp.target
			ids[i] = s.ID
			mustCreate(t, st, s)
			fin := Base.Add(sp.finished)
			switch sp.state {
			case job.StateDone:
				if err := st.Start(ctx, s.ID, s.CreatedAt); err != nil {
					t.Fatal(err)
				}
				if err := st.Complete(ctx, s.ID, fin, SampleResult(1, 1)); err != nil {
					t.Fatal(err)
				}
			case job.StateFailed:
				if err := st.Fail(ctx, s.ID, fin, "pull failed"); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := map[string]job.Scan{a: get(t, st, ids[0]), c: get(t, st, ids[5]), d: get(t, st, ids[7])}
		got, err := st.LatestDone(ctx, []string{a, b, c, d, "registry.example/none:1", a})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LatestDone:\ngot  %+v\nwant %+v", got, want)
		}
		// Many targets at once (more than one SQL statement's worth).
		many := []string{c}
		for i := range 2500 {
			many = append(many, fmt.Sprintf("registry.example/many-%d:1", i))
		}
		if got, err := st.LatestDone(ctx, many); err != nil || !reflect.DeepEqual(got, map[string]job.Scan{c: want[c]}) {
			t.Errorf("LatestDone of %d targets = %+v, %v; want only %s", len(many), got, err, c)
		}
		if got, err := st.LatestDone(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("LatestDone(nil) = %+v, %v; want an empty map", got, err)
		}
	})

	t.Run("ListNewestFirstFilterPage", func(t *testing.T) {
		st := newStore(t)
		var all []job.Scan
		for i := range 9 {
			s := newScan(i)
			mustCreate(t, st, s)
			if i%3 == 0 {
				if err := st.Fail(ctx, s.ID, s.CreatedAt, "x"); err != nil {
					t.Fatal(err)
				}
			}
			all = append(all, get(t, st, s.ID))
		}
		slices.Reverse(all)
		check := func(name string, f job.ScanFilter, keep func(job.Scan) bool) {
			t.Helper()
			var want []job.Scan
			for _, s := range all {
				if keep(s) {
					want = append(want, s)
				}
			}
			page, err := st.List(ctx, f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			lo := min(f.Offset, len(want))
			limit := f.Limit
			if limit == 0 {
				limit = job.DefaultLimit
			}
			wantPage := want[lo:min(len(want), lo+limit)]
			if page.Total != len(want) || !reflect.DeepEqual(page.Items, append([]job.Scan{}, wantPage...)) {
				t.Errorf("%s: total %d (want %d)\ngot  %+v\nwant %+v", name, page.Total, len(want), page.Items, wantPage)
			}
		}
		check("all", job.ScanFilter{}, func(job.Scan) bool { return true })
		check("page", job.ScanFilter{Limit: 4, Offset: 3}, func(job.Scan) bool { return true })
		check("past the end", job.ScanFilter{Limit: 4, Offset: 30}, func(job.Scan) bool { return true })
		check("failed", job.ScanFilter{State: job.StateFailed}, func(s job.Scan) bool { return s.State == job.StateFailed })
		check("queued of a target", job.ScanFilter{State: job.StateQueued, Target: "registry.example/app-1:1.0"},
			func(s job.Scan) bool { return s.State == job.StateQueued && s.Target == "registry.example/app-1:1.0" })
		if _, err := st.List(ctx, job.ScanFilter{State: "bogus"}); !errors.Is(err, job.ErrInvalid) {
			t.Errorf("List with a bogus state: %v, want ErrInvalid", err)
		}
	})
}
