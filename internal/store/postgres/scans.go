package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
		return fmt.Errorf("postgres store: create scan %s: %w", s.ID, err)
	}
	_, err = sc.s.pool.Exec(ctx, `INSERT INTO scans (`+scanColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.ID, string(s.State), string(s.Kind), text(s.Target), text(s.RequestedBy), at(s.CreatedAt), ts(s.StartedAt), ts(s.FinishedAt),
		text(s.Error), string(summary), s.Published)
	if err != nil {
		return fmt.Errorf("postgres store: create scan %s: %w", s.ID, err)
	}
	return nil
}

// transition runs "UPDATE scans SET <set>" on scan id when its state is
// one of from, in tx, and explains a miss. set's placeholders are $3 on.
func transition(ctx context.Context, tx pgx.Tx, id, op, set string, args []any, from ...job.State) error {
	states := make([]string, len(from))
	for i, st := range from {
		states[i] = string(st)
	}
	tag, err := tx.Exec(ctx, "UPDATE scans SET "+set+" WHERE id = $1 AND state = ANY($2)", append([]any{id, states}, args...)...)
	if err != nil {
		return fmt.Errorf("postgres store: %s scan %s: %w", op, id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var state string
	switch err := tx.QueryRow(ctx, "SELECT state FROM scans WHERE id = $1", id).Scan(&state); {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres store: %s scan %s: %w", op, id, job.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres store: %s scan %s: %w", op, id, err)
	}
	return fmt.Errorf("postgres store: %s scan %s: it is %s: %w", op, id, state, job.ErrConflict)
}

// update runs one transition in its own transaction.
func (sc *Scans) update(ctx context.Context, id, op, set string, args []any, from ...job.State) error {
	return pgx.BeginFunc(ctx, sc.s.pool, func(tx pgx.Tx) error {
		return transition(ctx, tx, id, op, set, args, from...)
	})
}

// Start implements job.Store.
func (sc *Scans) Start(ctx context.Context, id string, t time.Time) error {
	return sc.update(ctx, id, "start", "state = $3, started_at = $4", []any{string(job.StateRunning), at(t)}, job.StateQueued)
}

// Fail implements job.Store.
func (sc *Scans) Fail(ctx context.Context, id string, t time.Time, reason string) error {
	return sc.update(ctx, id, "fail", "state = $3, finished_at = $4, error = $5", []any{string(job.StateFailed), at(t), text(reason)}, job.StateQueued, job.StateRunning)
}

// MarkPublished implements job.Store.
func (sc *Scans) MarkPublished(ctx context.Context, id string) error {
	return sc.update(ctx, id, "mark published", "published = true", nil, job.StateDone)
}

// Complete implements job.Store: the state change, the summary, the
// packages and the findings (COPY) are written in one transaction.
func (sc *Scans) Complete(ctx context.Context, id string, t time.Time, r job.Result) error {
	summary, err := json.Marshal(job.Summarize(r.Packages, r.Findings))
	if err != nil {
		return fmt.Errorf("postgres store: complete scan %s: %w", id, err)
	}
	pkgRows := make([][]any, len(r.Packages))
	for i, p := range r.Packages {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("postgres store: complete scan %s: package %s: %w", id, p.Name, err)
		}
		pkgRows[i] = []any{id, int32(i), text(string(b))}
	}
	findRows := make([][]any, len(r.Findings))
	for i, f := range r.Findings {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("postgres store: complete scan %s: finding %s: %w", id, f.AdvisoryID, err)
		}
		findRows[i] = []any{id, int32(i), int16(f.Severity.Level), text(f.AdvisoryID), text(f.Package.Name), text(string(b))}
	}
	err = pgx.BeginFunc(ctx, sc.s.pool, func(tx pgx.Tx) error {
		if err := transition(ctx, tx, id, "complete", "state = $3, finished_at = $4, summary = $5",
			[]any{string(job.StateDone), at(t), string(summary)}, job.StateRunning); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"scan_packages"}, []string{"scan_id", "seq", "data"}, pgx.CopyFromRows(pkgRows)); err != nil {
			return fmt.Errorf("postgres store: complete scan %s: packages: %w", id, err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"scan_findings"}, []string{"scan_id", "seq", "severity", "advisory_id", "package", "data"}, pgx.CopyFromRows(findRows)); err != nil {
			return fmt.Errorf("postgres store: complete scan %s: findings: %w", id, err)
		}
		return nil
	})
	return err
}

// FailUnfinished implements job.Store.
func (sc *Scans) FailUnfinished(ctx context.Context, t time.Time, reason string) ([]string, error) {
	rows, err := sc.s.pool.Query(ctx, `UPDATE scans SET state = $1, finished_at = $2, error = $3 WHERE state IN ($4, $5) RETURNING id`,
		string(job.StateFailed), at(t), text(reason), string(job.StateQueued), string(job.StateRunning))
	if err != nil {
		return nil, fmt.Errorf("postgres store: fail unfinished scans: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres store: fail unfinished scans: %w", err)
	}
	return ids, nil
}

// Unpublished implements job.Store.
func (sc *Scans) Unpublished(ctx context.Context) ([]string, error) {
	rows, err := sc.s.pool.Query(ctx, "SELECT id FROM scans WHERE state = $1 AND NOT published ORDER BY created_at, id", string(job.StateDone))
	if err != nil {
		return nil, fmt.Errorf("postgres store: list unpublished scans: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres store: list unpublished scans: %w", err)
	}
	return ids, nil
}

func readScan(r pgx.Row) (job.Scan, error) {
	var (
		s                          job.Scan
		state, kind, summary       string
		created, started, finished pgtype.Timestamptz
	)
	if err := r.Scan(&s.ID, &state, &kind, &s.Target, &s.RequestedBy, &created, &started, &finished, &s.Error, &summary, &s.Published); err != nil {
		return job.Scan{}, err
	}
	s.State, s.Kind = job.State(state), job.Kind(kind)
	s.CreatedAt, s.StartedAt, s.FinishedAt = fromTS(created), fromTS(started), fromTS(finished)
	if err := json.Unmarshal([]byte(summary), &s.Summary); err != nil {
		return job.Scan{}, fmt.Errorf("scan %s: stored summary is corrupt: %w", s.ID, err)
	}
	return s, nil
}

// Get implements job.Store.
func (sc *Scans) Get(ctx context.Context, id string) (job.Scan, error) {
	s, err := readScan(sc.s.pool.QueryRow(ctx, "SELECT "+scanColumns+" FROM scans WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Scan{}, fmt.Errorf("postgres store: scan %s: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return job.Scan{}, fmt.Errorf("postgres store: get scan %s: %w", id, err)
	}
	return s, nil
}

// List implements job.Store. The count and the page are read in one
// repeatable-read transaction, so they agree.
func (sc *Scans) List(ctx context.Context, f job.ScanFilter) (job.Page[job.Scan], error) {
	f, err := f.Normalize()
	if err != nil {
		return job.Page[job.Scan]{}, err
	}
	var conds []string
	var args []any
	if f.State != "" {
		args = append(args, string(f.State))
		conds = append(conds, fmt.Sprintf("state = $%d", len(args)))
	}
	if f.Target != "" {
		args = append(args, text(f.Target))
		conds = append(conds, fmt.Sprintf("target = $%d", len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	page := job.Page[job.Scan]{Items: []job.Scan{}}
	err = pgx.BeginTxFunc(ctx, sc.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM scans"+where, args...).Scan(&page.Total); err != nil {
			return fmt.Errorf("count scans: %w", err)
		}
		n := len(args)
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM scans%s ORDER BY created_at DESC, id LIMIT $%d OFFSET $%d", scanColumns, where, n+1, n+2),
			append(args, f.Limit, f.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			s, err := readScan(rows)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, s)
		}
		return rows.Err()
	})
	if err != nil {
		return job.Page[job.Scan]{}, fmt.Errorf("postgres store: list scans: %w", err)
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
		"FROM scan_findings WHERE scan_id = $1 AND severity >= $2", "ORDER BY severity DESC, seq",
		[]any{id, int16(f.MinSeverity)}, f.Limit, f.Offset)
	if err != nil {
		return job.Page[scan.Finding]{}, err
	}
	fs, err := job.DecodeItems(items, job.DecodeFinding)
	if err != nil {
		return job.Page[scan.Finding]{}, fmt.Errorf("postgres store: stored finding of scan %s is corrupt: %w", id, err)
	}
	return job.Page[scan.Finding]{Items: fs, Total: total}, nil
}

// Packages implements job.Store.
func (sc *Scans) Packages(ctx context.Context, id string, limit, offset int) (job.Page[scan.Package], error) {
	f, err := job.FindingFilter{Limit: limit, Offset: offset}.Normalize()
	if err != nil {
		return job.Page[scan.Package]{}, err
	}
	items, total, err := sc.page(ctx, id, "packages", "FROM scan_packages WHERE scan_id = $1", "ORDER BY seq", []any{id}, f.Limit, f.Offset)
	if err != nil {
		return job.Page[scan.Package]{}, err
	}
	ps, err := job.DecodeItems(items, job.DecodePackage)
	if err != nil {
		return job.Page[scan.Package]{}, fmt.Errorf("postgres store: stored package of scan %s is corrupt: %w", id, err)
	}
	return job.Page[scan.Package]{Items: ps, Total: total}, nil
}

// page reads the data column of one page of a scan's packages or
// findings and their count, in one repeatable-read transaction that also
// tells an unknown scan (ErrNotFound) from an empty report.
func (sc *Scans) page(ctx context.Context, id, what, from, order string, args []any, limit, offset int) ([][]byte, int, error) {
	var items [][]byte
	var total int
	err := pgx.BeginTxFunc(ctx, sc.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM scans WHERE id = $1)", id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return job.ErrNotFound
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) "+from, args...).Scan(&total); err != nil {
			return err
		}
		n := len(args)
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT data %s %s LIMIT $%d OFFSET $%d", from, order, n+1, n+2), append(args, limit, offset)...)
		if err != nil {
			return err
		}
		items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]byte, error) {
			var s string
			err := r.Scan(&s)
			return []byte(s), err
		})
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres store: %s of scan %s: %w", what, id, err)
	}
	return items, total, nil
}

// LatestDone implements job.Store: one statement keeps the first done
// scan of each target (DISTINCT ON, on scans_target_idx).
func (sc *Scans) LatestDone(ctx context.Context, targets []string) (map[string]job.Scan, error) {
	out := map[string]job.Scan{}
	if len(targets) == 0 {
		return out, nil
	}
	rows, err := sc.s.pool.Query(ctx, `SELECT DISTINCT ON (target) `+scanColumns+` FROM scans
		WHERE state = $1 AND target = ANY($2)
		ORDER BY target, finished_at DESC, created_at DESC, id DESC`, string(job.StateDone), texts(targets))
	if err != nil {
		return nil, fmt.Errorf("postgres store: latest done scans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := readScan(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: latest done scans: %w", err)
		}
		out[s.Target] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: latest done scans: %w", err)
	}
	return out, nil
}
