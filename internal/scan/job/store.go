package job

import (
	"context"
	"time"

	"github.com/kubeward/kubeward/internal/scan"
)

// Store persists scans and their reports. The SQLite and PostgreSQL stores
// implement it (their Scans method), Memory in this package too; all pass
// the contract suite of package jobtest. Implementations are safe for
// concurrent use and store times with microsecond precision, in UTC.
type Store interface {
	// Create records a new scan. Its ID must be unused.
	Create(ctx context.Context, s Scan) error
	// Start moves a queued scan to running at time at. It returns
	// ErrNotFound for an unknown ID and ErrConflict when the scan is not
	// queued.
	Start(ctx context.Context, id string, at time.Time) error
	// Complete stores the report of a running scan and moves it to done
	// at time at, in one transaction; the scan is left unpublished. It
	// returns ErrNotFound or ErrConflict (the scan is not running).
	Complete(ctx context.Context, id string, at time.Time, r Result) error
	// Fail moves a queued or running scan to failed at time at with the
	// reason. It returns ErrNotFound or ErrConflict (the scan ended).
	Fail(ctx context.Context, id string, at time.Time, reason string) error
	// MarkPublished records that every finding of a done scan was
	// published. It returns ErrNotFound or ErrConflict (not done).
	MarkPublished(ctx context.Context, id string) error
	// FailUnfinished moves every queued or running scan to failed at
	// time at with the reason and returns their IDs. Run at start, it
	// ends the scans a crash interrupted.
	FailUnfinished(ctx context.Context, at time.Time, reason string) ([]string, error)
	// Unpublished returns the IDs of done scans not marked published,
	// oldest first.
	Unpublished(ctx context.Context) ([]string, error)
	// Get returns one scan, or ErrNotFound.
	Get(ctx context.Context, id string) (Scan, error)
	// List returns the scans f selects, newest first (created_at, then ID).
	List(ctx context.Context, f ScanFilter) (Page[Scan], error)
	// Findings returns the findings of a scan that f selects, most severe
	// first, then in report order. It returns ErrNotFound for an unknown
	// scan.
	Findings(ctx context.Context, id string, f FindingFilter) (Page[scan.Finding], error)
	// Packages returns a page of a scan's packages in report order. It
	// returns ErrNotFound for an unknown scan.
	Packages(ctx context.Context, id string, limit, offset int) (Page[scan.Package], error)
	// LatestDone returns, for each of targets (compared exactly), the done
	// scan of that target that finished last (ties: the later created,
	// then the greater ID), keyed by target. Targets without a done scan
	// are absent; duplicates are allowed; no targets give an empty map.
	LatestDone(ctx context.Context, targets []string) (map[string]Scan, error)
}
