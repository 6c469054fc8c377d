package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/scan"
	"github.com/kubeward/kubeward/internal/scan/job"
)

// Scans live in the tables of migration 00004_scans.sql.
var _ job.Store = (*Scans)(nil)

// Scans is the job.Store view of a Store.
type Scans struct{ s *Store }

// Scans returns the job.Store (a *Scans) kept in s. It returns the
// interface, like Events, so that serve can find it on a store.Store with
// st.(interface{ Scans() job.Store }).
func (s *Store) Scans() job.Store { return &Scans{s: s} }

const scanColumns = `id, state, kind, target, requested_by, created_at, started_at, finished_at, error, summary, published`

// Create implements job.Store.
func (sc *Scans) Create(ctx context.Context, s job.Scan) error {
	summary, err := json.Marshal(s.Summary)
	if err != nil {
		return fmt.Errorf("sqlite store: create scan %s: %w", s.ID, err)
	}
	_, err = sc.s.w.ExecContext(ctx, `INSERT INTO scans (`+scanColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, string(s.State), string(s.Kind), s.Target, s.RequestedBy, rawTime(s.CreatedAt), fmtTime(s.StartedAt), fmtTime(s.FinishedAt),
		s.Error, string(summary), s.Published)
	if err != nil {
		return fmt.Errorf("sqlite store: create scan %s: %w", s.ID, err)
	}
	return nil
}

// transition runs the update query (whose last placeholders are the ID
// and then the states it may leave) in tx and explains a miss.
func (sc *Scans) transition(ctx context.Context, tx *sql.Tx, id, op, set string, args []any, from ...job.State) error {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	args = append(args, id)
	for _, st := range from {
		args = append(args, string(st))
	}
	res, err := tx.ExecContext(ctx, "UPDATE scans SET "+set+" WHERE id = ? AND state IN ("+marks+")", args...)
	if err != nil {
		return fmt.Errorf("sqlite store: %s scan %s: %w", op, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite store: %s scan %s: %w", op, id, err)
	}
	if n == 1 {
		return nil
	}
	var state string
	switch err := tx.QueryRowContext(ctx, "SELECT state FROM scans WHERE id = ?", id).Scan(&state); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite store: %s scan %s: %w", op, id, job.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite store: %s scan %s: %w", op, id, err)
	}
	return fmt.Errorf("sqlite store: %s scan %s: it is %s: %w", op, id, state, job.ErrConflict)
}

// update runs one transition in its own transaction.
func (sc *Scans) update(ctx context.Context, id, op, set string, args []any, from ...job.State) error {
	tx, err := sc.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: %s scan %s: %w", op, id, err)
	}
	defer rollback(ctx, tx)
	if err := sc.transition(ctx, tx, id, op, set, args, from...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: %s scan %s: %w", op, id, err)
	}
	return nil
}

// Start implements job.Store.
func (sc *Scans) Start(ctx context.Context, id string, at time.Time) error {
	return sc.update(ctx, id, "start", "state = ?, started_at = ?", []any{string(job.StateRunning), rawTime(at)}, job.StateQueued)
}

// Fail implements job.Store.
func (sc *Scans) Fail(ctx context.Context, id string, at time.Time, reason string) error {
	return sc.update(ctx, id, "fail", "state = ?, finished_at = ?, error = ?", []any{string(job.StateFailed), rawTime(at), reason}, job.StateQueued, job.StateRunning)
}

// MarkPublished implements job.Store.
func (sc *Scans) MarkPublished(ctx context.Context, id string) error {
	return sc.update(ctx, id, "mark published", "published = 1", nil, job.StateDone)
}

// Complete implements job.Store: the state change, the summary, the
// packages and the findings are written in one transaction.
func (sc *Scans) Complete(ctx context.Context, id string, at time.Time, r job.Result) error {
	summary, err := json.Marshal(job.Summarize(r.Packages, r.Findings))
	if err != nil {
		return fmt.Errorf("sqlite store: complete scan %s: %w", id, err)
	}
	tx, err := sc.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: complete scan %s: %w", id, err)
	}
	defer rollback(ctx, tx)
	if err := sc.transition(ctx, tx, id, "complete", "state = ?, finished_at = ?, summary = ?",
		[]any{string(job.StateDone), rawTime(at), string(summary)}, job.StateRunning); err != nil {
		return err
	}
	pkgStmt, err := tx.PrepareContext(ctx, "INSERT INTO scan_packages (scan_id, seq, data) VALUES (?, ?, ?)")
	if err != nil {
		return fmt.Errorf("sqlite store: complete scan %s: %w", id, err)
	}
	defer pkgStmt.Close()
	for i, p := range r.Packages {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("sqlite store: complete scan %s: package %s: %w", id, p.Name, err)
		}
		if _, err := pkgStmt.ExecContext(ctx, id, i, string(b)); err != nil {
			return fmt.Errorf("sqlite store: complete scan %s: package %s: %w", id, p.Name, err)
		}
	}
	findStmt, err := tx.PrepareContext(ctx, "INSERT INTO scan_findings (scan_id, seq, severity, advisory_id, package, data) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return fmt.Errorf("sqlite store: complete scan %s: %w", id, err)
	}
	defer findStmt.Close()
	for i, f := range r.Findings {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("sqlite store: complete scan %s: finding %s: %w", id, f.AdvisoryID, err)
		}
		if _, err := findStmt.ExecContext(ctx, id, i, int(f.Severity.Level), f.AdvisoryID, f.Package.Name, string(b)); err != nil {
			return fmt.Errorf("sqlite store: complete scan %s: finding %s: %w", id, f.AdvisoryID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: complete scan %s: %w", id, err)
	}
	return nil
}

// FailUnfinished implements job.Store.
func (sc *Scans) FailUnfinished(ctx context.Context, at time.Time, reason string) ([]string, error) {
	rows, err := sc.s.w.QueryContext(ctx, `UPDATE scans SET state = ?, finished_at = ?, error = ? WHERE state IN (?, ?) RETURNING id`,
		string(job.StateFailed), rawTime(at), reason, string(job.StateQueued), string(job.StateRunning))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: fail unfinished scans: %w", err)
	}
	return scanIDs(rows, "fail unfinished scans")
}

// Unpublished implements job.Store.
func (sc *Scans) Unpublished(ctx context.Context) ([]string, error) {
	rows, err := sc.s.r.QueryContext(ctx, "SELECT id FROM scans WHERE state = ? AND published = 0 ORDER BY created_at, id", string(job.StateDone))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list unpublished scans: %w", err)
	}
	return scanIDs(rows, "list unpublished scans")
}

func scanIDs(rows *sql.Rows, op string) ([]string, error) {
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite store: %s: %w", op, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: %s: %w", op, err)
	}
	return ids, nil
}

type rowScanner interface{ Scan(dest ...any) error }

func readScan(r rowScanner) (job.Scan, error) {
	var (
		s                 job.Scan
		state, kind       string
		created           string
		started, finished sql.NullString
		summary           string
	)
	if err := r.Scan(&s.ID, &state, &kind, &s.Target, &s.RequestedBy, &created, &started, &finished, &s.Error, &summary, &s.Published); err != nil {
		return job.Scan{}, err
	}
	s.State, s.Kind = job.State(state), job.Kind(kind)
	var err error
	if s.CreatedAt, err = parseTime(sql.NullString{String: created, Valid: true}); err != nil {
		return job.Scan{}, fmt.Errorf("scan %s: %w", s.ID, err)
	}
	if s.StartedAt, err = parseTime(started); err != nil {
		return job.Scan{}, fmt.Errorf("scan %s: %w", s.ID, err)
	}
	if s.FinishedAt, err = parseTime(finished); err != nil {
		return job.Scan{}, fmt.Errorf("scan %s: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(summary), &s.Summary); err != nil {
		return job.Scan{}, fmt.Errorf("scan %s: stored summary is corrupt: %w", s.ID, err)
	}
	return s, nil
}

// Get implements job.Store.
func (sc *Scans) Get(ctx context.Context, id string) (job.Scan, error) {
	s, err := readScan(sc.s.r.QueryRowContext(ctx, "SELECT "+scanColumns+" FROM scans WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return job.Scan{}, fmt.Errorf("sqlite store: scan %s: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return job.Scan{}, fmt.Errorf("sqlite store: get scan %s: %w", id, err)
	}
	return s, nil
}

// List implements job.Store. The count and the page are read in one
// transaction, so they agree.
func (sc *Scans) List(ctx context.Context, f job.ScanFilter) (job.Page[job.Scan], error) {
	f, err := f.Normalize()
	if err != nil {
		return job.Page[job.Scan]{}, err
	}
	var conds []string
	var args []any
	if f.State != "" {
		conds, args = append(conds, "state = ?"), append(args, string(f.State))
	}
	if f.Target != "" {
		conds, args = append(conds, "target = ?"), append(args, f.Target)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	tx, err := sc.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return job.Page[job.Scan]{}, fmt.Errorf("sqlite store: list scans: %w", err)
	}
	defer rollback(ctx, tx)
	page := job.Page[job.Scan]{Items: []job.Scan{}}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM scans"+where, args...).Scan(&page.Total); err != nil {
		return job.Page[job.Scan]{}, fmt.Errorf("sqlite store: count scans: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+scanColumns+" FROM scans"+where+" ORDER BY created_at DESC, id LIMIT ? OFFSET ?", append(args, f.Limit, f.Offset)...)
	if err != nil {
		return job.Page[job.Scan]{}, fmt.Errorf("sqlite store: list scans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := readScan(rows)
		if err != nil {
			return job.Page[job.Scan]{}, fmt.Errorf("sqlite store: list scans: %w", err)
		}
		page.Items = append(page.Items, s)
	}
	if err := rows.Err(); err != nil {
		return job.Page[job.Scan]{}, fmt.Errorf("sqlite store: list scans: %w", err)
	}
	return page, nil
}

// Findings implements job.Store.
func (sc *Scans) Findings(ctx context.Context, id string, f job.FindingFilter) (job.Page[scan.Finding], error) {
	f, err := f.Normalize()
	if err != nil {
		return job.Page[scan.Finding]{}, err
	}
	items, total, err := sc.page(ctx, id, "findings",
		"FROM scan_findings WHERE scan_id = ? AND severity >= ?", "ORDER BY severity DESC, seq",
		[]any{id, int(f.MinSeverity)}, f.Limit, f.Offset)
	if err != nil {
		return job.Page[scan.Finding]{}, err
	}
	fs, err := job.DecodeItems(items, job.DecodeFinding)
	if err != nil {
		return job.Page[scan.Finding]{}, fmt.Errorf("sqlite store: stored finding of scan %s is corrupt: %w", id, err)
	}
	return job.Page[scan.Finding]{Items: fs, Total: total}, nil
}

// Packages implements job.Store.
func (sc *Scans) Packages(ctx context.Context, id string, limit, offset int) (job.Page[scan.Package], error) {
	f, err := job.FindingFilter{Limit: limit, Offset: offset}.Normalize()
	if err != nil {
		return job.Page[scan.Package]{}, err
	}
	items, total, err := sc.page(ctx, id, "packages", "FROM scan_packages WHERE scan_id = ?", "ORDER BY seq", []any{id}, f.Limit, f.Offset)
	if err != nil {
		return job.Page[scan.Package]{}, err
	}
	ps, err := job.DecodeItems(items, job.DecodePackage)
	if err != nil {
		return job.Page[scan.Package]{}, fmt.Errorf("sqlite store: stored package of scan %s is corrupt: %w", id, err)
	}
	return job.Page[scan.Package]{Items: ps, Total: total}, nil
}

// page reads the data column of one page of a scan's packages or
// findings and their count, in one read transaction that also tells an
// unknown scan (ErrNotFound) from an empty report.
func (sc *Scans) page(ctx context.Context, id, what, from, order string, args []any, limit, offset int) ([][]byte, int, error) {
	tx, err := sc.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: %s of scan %s: %w", what, id, err)
	}
	defer rollback(ctx, tx)
	var one int
	switch err := tx.QueryRowContext(ctx, "SELECT 1 FROM scans WHERE id = ?", id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, 0, fmt.Errorf("sqlite store: scan %s: %w", id, job.ErrNotFound)
	case err != nil:
		return nil, 0, fmt.Errorf("sqlite store: %s of scan %s: %w", what, id, err)
	}
	var total int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) "+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite store: count %s of scan %s: %w", what, id, err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT data "+from+" "+order+" LIMIT ? OFFSET ?", append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: %s of scan %s: %w", what, id, err)
	}
	defer rows.Close()
	var items [][]byte
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, 0, fmt.Errorf("sqlite store: %s of scan %s: %w", what, id, err)
		}
		items = append(items, []byte(data))
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite store: %s of scan %s: %w", what, id, err)
	}
	return items, total, nil
}

// latestDoneChunk bounds the targets of one LatestDone statement, well
// under SQLite's limit on bound parameters.
const latestDoneChunk = 500

// LatestDone implements job.Store: per chunk of targets, one statement
// ranks each target's done scans (on scans_target_idx) and keeps the
// first.
func (sc *Scans) LatestDone(ctx context.Context, targets []string) (map[string]job.Scan, error) {
	out := map[string]job.Scan{}
	for chunk := range slices.Chunk(targets, latestDoneChunk) {
		args := make([]any, 0, len(chunk)+1)
		args = append(args, string(job.StateDone))
		for _, t := range chunk {
			args = append(args, t)
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")
		rows, err := sc.s.r.QueryContext(ctx, `SELECT `+scanColumns+` FROM (
			SELECT `+scanColumns+`, row_number() OVER (PARTITION BY target ORDER BY finished_at DESC, created_at DESC, id DESC) AS rank
			FROM scans WHERE state = ? AND target IN (`+marks+`)
		) WHERE rank = 1`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: latest done scans: %w", err)
		}
		err = func() error {
			defer rows.Close()
			for rows.Next() {
				s, err := readScan(rows)
				if err != nil {
					return err
				}
				out[s.Target] = s
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("sqlite store: latest done scans: %w", err)
		}
	}
	return out, nil
}
