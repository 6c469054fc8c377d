package exposure

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

func TestFinderJoin(t *testing.T) {
	_, _, svc, ri, inv := scannedCluster(t)
	ctx := context.Background()
	latest, err := svc.LatestDone(ctx, []string{pinned(ri.host, "shop/api", ri.vulnerableDigest), ri.vulnerable})
	if err != nil {
		t.Fatal(err)
	}
	pinnedScan, taggedScan := latest[pinned(ri.host, "shop/api", ri.vulnerableDigest)], latest[ri.vulnerable]
	all := allFindings(t, svc, pinnedScan.ID)
	if len(all) == 0 {
		t.Fatal("the vulnerable image has no findings: the test data changed")
	}
	// An advisory to look for, by an alias and in lower case when it has
	// one, so matching aliases and case is tested.
	advisory := strings.ToLower(all[len(all)-1].AdvisoryID)
	for _, f := range all {
		if len(f.Aliases) > 0 {
			advisory = strings.ToLower(f.Aliases[0])
			break
		}
	}
	keep := func(q Query) func([]scan.Finding) []scan.Finding {
		return func(fs []scan.Finding) []scan.Finding {
			out := []scan.Finding{}
			for _, f := range fs {
				named := q.Advisory == "" || strings.EqualFold(f.AdvisoryID, q.Advisory)
				for _, a := range f.Aliases {
					named = named || strings.EqualFold(a, q.Advisory)
				}
				if named && f.Severity.Level >= q.MinSeverity {
					out = append(out, f)
				}
			}
			return out
		}
	}
	// The rows every query can return, in order, before filtering.
	debug := Exposure{Kind: "Pod", Namespace: "other", Workload: "debug", Image: ri.vulnerable, Digest: inv.workloads[0].Running[0].Digest, Pods: 1,
		ScanID: taggedScan.ID, ScanTarget: taggedScan.Target, ScannedAt: taggedScan.FinishedAt, Findings: allFindings(t, svc, taggedScan.ID)}
	api := Exposure{Kind: "Deployment", Namespace: "shop", Workload: "api", Image: ri.vulnerable, Digest: ri.vulnerableDigest, Pods: 3,
		ScanID: pinnedScan.ID, ScanTarget: pinnedScan.Target, ScannedAt: pinnedScan.FinishedAt, Findings: all}
	tests := []struct {
		name  string
		q     Query
		rows  []Exposure
		total int
	}{
		{"all", Query{}, []Exposure{debug, api}, 2},
		{"advisory alias, any case", Query{Advisory: " " + advisory + " "}, []Exposure{debug, api}, 2},
		{"high and above", Query{MinSeverity: scan.LevelHigh}, []Exposure{debug, api}, 2},
		{"namespace", Query{Namespace: "shop"}, []Exposure{api}, 1},
		{"second page", Query{Limit: 1, Offset: 1}, []Exposure{api}, 2},
		{"past the end", Query{Offset: 5}, []Exposure{}, 2},
		{"unknown advisory", Query{Advisory: "CVE-1999-0000"}, []Exposure{}, 0},
		{"no such namespace", Query{Namespace: "nope"}, []Exposure{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := NewFinder(inv, svc).Vulnerable(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			want := []Exposure{}
			filter := keep(Query{Advisory: strings.TrimSpace(tt.q.Advisory), MinSeverity: tt.q.MinSeverity})
			for _, r := range tt.rows {
				r.Findings = filter(r.Findings)
				if len(r.Findings) == 0 {
					t.Fatalf("the test expects row %s/%s, but none of its findings pass the filter", r.Namespace, r.Workload)
				}
				want = append(want, r)
			}
			if page.Total != tt.total || !reflect.DeepEqual(page.Items, want) {
				t.Errorf("total %d (want %d)\ngot  %+v\nwant %+v", page.Total, tt.total, page.Items, want)
			}
		})
	}
	// The clean image was scanned but has no findings: never a row.
	page, err := NewFinder(inv, svc).Vulnerable(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Items {
		if r.Workload == "agent" {
			t.Errorf("the clean image's workload is listed: %+v", r)
		}
	}
}

func TestFinderErrors(t *testing.T) {
	svc := newService(t, false, 1)
	ctx := context.Background()
	for name, q := range map[string]Query{
		"limit too large":    {Limit: job.MaxLimit + 1},
		"negative limit":     {Limit: -1},
		"negative offset":    {Offset: -1},
		"severity":           {MinSeverity: scan.LevelCritical + 1},
		"advisory too long":  {Advisory: strings.Repeat("X", maxAdvisoryLen+1)},
		"advisory not UTF-8": {Advisory: "CVE-\xff"},
	} {
		if _, err := NewFinder(&fakeInventory{}, svc).Vulnerable(ctx, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewFinder(&fakeInventory{err: errInventory}, svc).Vulnerable(ctx, Query{}); !errors.Is(err, errInventory) {
		t.Errorf("broken inventory: %v, want it wrapped", err)
	}
	page, err := NewFinder(&fakeInventory{}, svc).Vulnerable(ctx, Query{})
	if err != nil || page.Total != 0 || page.Items == nil {
		t.Errorf("empty cluster: %+v, %v; want an empty, non-nil page", page, err)
	}
}
