package exposure

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// maxAdvisoryLen bounds Query.Advisory; advisory IDs are far shorter.
const maxAdvisoryLen = 256

// Query selects vulnerable workloads.
type Query struct {
	// Advisory keeps findings whose advisory ID or one of whose aliases
	// is this ID (case-insensitive, e.g. CVE-2024-1234 or GHSA-…); empty
	// keeps all.
	Advisory string
	// MinSeverity keeps findings at least this severe; LevelUnknown, the
	// zero value, keeps all.
	MinSeverity scan.Level
	// Namespace keeps workloads of this namespace; empty keeps all.
	Namespace string
	// Limit (1 to job.MaxLimit, 0 means job.DefaultLimit) and Offset page
	// the result.
	Limit, Offset int
}

// Normalize checks q and fills in defaults. Errors wrap ErrInvalid.
func (q Query) Normalize() (Query, error) {
	q.Advisory = strings.TrimSpace(q.Advisory)
	if len(q.Advisory) > maxAdvisoryLen || !utf8.ValidString(q.Advisory) {
		return q, fmt.Errorf("%w: advisory: want an advisory ID such as CVE-2024-1234, at most %d bytes of UTF-8", ErrInvalid, maxAdvisoryLen)
	}
	if q.MinSeverity < scan.LevelUnknown || q.MinSeverity > scan.LevelCritical {
		return q, fmt.Errorf("%w: severity %d is out of range", ErrInvalid, q.MinSeverity)
	}
	if q.Limit == 0 {
		q.Limit = job.DefaultLimit
	}
	if q.Limit < 1 || q.Limit > job.MaxLimit {
		return q, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalid, q.Limit, job.MaxLimit)
	}
	if q.Offset < 0 {
		return q, fmt.Errorf("%w: offset %d: must not be negative", ErrInvalid, q.Offset)
	}
	return q, nil
}

// Exposure is one image of one workload whose latest done scan has
// findings the Query selects.
type Exposure struct {
	// Kind, Namespace and Workload name the workload (see
	// cluster.WorkloadImages).
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	// Image is the image as the Pods' container statuses report it.
	Image string `json:"image"`
	// Digest is the digest of the runtime's image ID, when it has one.
	Digest string `json:"digest,omitempty"`
	// Pods counts the workload's Pods running the image.
	Pods int `json:"pods"`
	// ScanID and ScanTarget name the scan whose findings these are: the
	// latest done scan of the digest-pinned reference when there is one,
	// else of the tagged reference.
	ScanID     string    `json:"scan_id"`
	ScanTarget string    `json:"scan_target"`
	ScannedAt  time.Time `json:"scanned_at"`
	// Findings are the selected findings, most severe first.
	Findings []scan.Finding `json:"findings"`
}

// Page is one page of exposures and the number the Query selects.
type Page struct {
	Items []Exposure
	Total int
}

// Finder answers which workloads and Pods run a vulnerable image.
type Finder struct {
	inv   Inventory
	scans ScanService
}

// NewFinder returns a Finder over the cluster inventory and the scans.
func NewFinder(inv Inventory, scans ScanService) *Finder {
	return &Finder{inv: inv, scans: scans}
}

// Vulnerable returns the images of the cluster's workloads whose latest
// done scan (matched by digest-pinned reference first, else by tagged
// reference) has findings q selects, sorted by namespace, kind, workload
// and image, one page at a time. Images never scanned are left out.
// Errors wrap ErrInvalid for a bad q.
func (f *Finder) Vulnerable(ctx context.Context, q Query) (Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return Page{}, err
	}
	ws, err := f.inv.Images(cluster.ImageFilter{Namespace: q.Namespace})
	if err != nil {
		return Page{}, fmt.Errorf("vulnerable workloads: read the image inventory: %w", err)
	}
	type candidate struct {
		w cluster.WorkloadImages
		r cluster.RunningImage
		t Targets
	}
	var cands []candidate
	var targets []string
	resolved := map[[2]string]Targets{} // workloads share images: parse each once
	for _, w := range ws {              // sorted by namespace, kind, name; Running by image
		for _, r := range w.Running {
			key := [2]string{r.Image, r.ImageID}
			t, seen := resolved[key]
			if !seen {
				t = TargetsOf(r)
				resolved[key] = t
				for _, s := range []string{t.Pinned, t.Tagged} {
					if s != "" {
						targets = append(targets, s)
					}
				}
			}
			if t.Preferred() != "" {
				cands = append(cands, candidate{w, r, t})
			}
		}
	}
	latest, err := f.scans.LatestDone(ctx, targets)
	if err != nil {
		return Page{}, fmt.Errorf("vulnerable workloads: read the latest scans: %w", err)
	}
	findings := map[string][]scan.Finding{} // scan ID → selected findings
	out := Page{Items: []Exposure{}}
	for _, c := range cands {
		sc, ok := latest[c.t.Pinned]
		if !ok {
			sc, ok = latest[c.t.Tagged]
		}
		if !ok {
			continue
		}
		fs, ok := findings[sc.ID]
		if !ok {
			if fs, err = f.selected(ctx, sc.ID, q); err != nil {
				return Page{}, err
			}
			findings[sc.ID] = fs
		}
		if len(fs) == 0 {
			continue
		}
		out.Total++
		if out.Total <= q.Offset || len(out.Items) >= q.Limit {
			continue
		}
		out.Items = append(out.Items, Exposure{
			Kind: c.w.Kind, Namespace: c.w.Namespace, Workload: c.w.Name,
			Image: c.r.Image, Digest: c.r.Digest, Pods: c.r.Pods,
			ScanID: sc.ID, ScanTarget: sc.Target, ScannedAt: sc.FinishedAt,
			Findings: fs,
		})
	}
	return out, nil
}

// selected reads every finding of a scan at least q.MinSeverity and keeps
// those naming q.Advisory, most severe first.
func (f *Finder) selected(ctx context.Context, id string, q Query) ([]scan.Finding, error) {
	out := []scan.Finding{}
	for offset := 0; ; {
		page, err := f.scans.Findings(ctx, id, job.FindingFilter{MinSeverity: q.MinSeverity, Limit: job.MaxLimit, Offset: offset})
		if err != nil {
			return nil, fmt.Errorf("vulnerable workloads: findings of scan %s: %w", id, err)
		}
		for _, fd := range page.Items {
			if q.Advisory == "" || names(fd, q.Advisory) {
				out = append(out, fd)
			}
		}
		offset += len(page.Items)
		if len(page.Items) == 0 || offset >= page.Total {
			return out, nil
		}
	}
}

// names reports whether a finding's advisory ID or an alias is id.
func names(fd scan.Finding, id string) bool {
	if strings.EqualFold(fd.AdvisoryID, id) {
		return true
	}
	for _, a := range fd.Aliases {
		if strings.EqualFold(a, id) {
			return true
		}
	}
	return false
}
