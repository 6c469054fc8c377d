// Package exposure joins the cluster's image inventory with vulnerability
// scans: a Scanner keeps every image the cluster runs scanned, and a
// Finder answers which workloads and Pods run an image with a given
// vulnerability.
//
// The package reads the cluster through Inventory (*cluster.View
// implements it) and scans through ScanService (*job.Service implements
// it), so it needs neither an apiserver nor a database of its own.
package exposure

import (
	"context"
	"errors"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// Inventory lists the images the cluster's workloads run; *cluster.View
// implements it.
type Inventory interface {
	Images(f cluster.ImageFilter) ([]cluster.WorkloadImages, error)
}

// ScanService submits image scans and reads their results; *job.Service
// implements it.
type ScanService interface {
	Submit(ctx context.Context, req job.Request) (job.Scan, error)
	Get(ctx context.Context, id string) (job.Scan, error)
	LatestDone(ctx context.Context, targets []string) (map[string]job.Scan, error)
	Findings(ctx context.Context, id string, f job.FindingFilter) (job.Page[scan.Finding], error)
}

var (
	_ Inventory   = (*cluster.View)(nil)
	_ ScanService = (*job.Service)(nil)
)

// ErrInvalid marks a malformed Query; callers test it with errors.Is.
var ErrInvalid = errors.New("invalid vulnerable workload query")

// Targets are the scan targets of an image a container runs, in the
// fully qualified form job.ParseImage gives scan targets.
type Targets struct {
	// Pinned is the digest-pinned reference (repository@sha256:…) from
	// the image or from the runtime's image ID; empty when neither
	// carries a repository digest.
	Pinned string
	// Tagged is the repository:tag reference of the image; empty when the
	// container was started by digest or the image does not parse.
	Tagged string
}

// Preferred is the target to scan: Pinned when known, since it names the
// content the Pods run, else Tagged.
func (t Targets) Preferred() string {
	if t.Pinned != "" {
		return t.Pinned
	}
	return t.Tagged
}

// TargetsOf returns the scan targets of a running image. A runtime image
// ID of the form repository@sha256:… (optionally behind a scheme such as
// docker-pullable://) is a repository digest and gives Pinned; a bare
// sha256:… ID (or image) is the image config's digest, which no registry
// serves by that name, and gives none.
func TargetsOf(r cluster.RunningImage) Targets {
	var t Targets
	// Some runtimes report the image as its bare config digest, which
	// would otherwise parse as repository "sha256" with a tag.
	if img := strings.TrimSpace(r.Image); !strings.HasPrefix(img, "sha256:") {
		if ref, err := job.ParseImage(img); err == nil {
			if isDigest(ref) {
				t.Pinned = ref
			} else {
				t.Tagged = ref
			}
		}
	}
	if t.Pinned != "" {
		return t
	}
	id := r.ImageID
	if _, rest, ok := strings.Cut(id, "://"); ok {
		id = rest
	}
	if strings.Contains(id, "@") {
		if ref, err := job.ParseImage(id); err == nil && isDigest(ref) {
			t.Pinned = ref
		}
	}
	return t
}

// isDigest reports whether a parsed reference names a digest.
func isDigest(ref string) bool {
	r, err := name.ParseReference(ref)
	if err != nil {
		return false
	}
	_, ok := r.(name.Digest)
	return ok
}
