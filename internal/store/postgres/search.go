package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kubeward/kubeward/internal/store"
)

// kevExpr is true for a cves row (alias c) that carries the CISA-ADP KEV
// metric or is in the KEV catalog.
const kevExpr = `(c.kev OR EXISTS (SELECT 1 FROM kev_catalog k WHERE k.cve_id = c.id))`

// cwesExpr lists a cves row's distinct CWE IDs in order of appearance.
const cwesExpr = `ARRAY(SELECT p.cwe_id FROM cve_problems p WHERE p.cve_id = c.id AND p.cwe_id <> ''
	GROUP BY p.cwe_id ORDER BY min(p.ord))`

// SearchCVEs runs a full-text search with filters; see store.CVEQuery.
func (s *Store) SearchCVEs(ctx context.Context, q store.CVEQuery) (page store.CVEPage, err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "search_cves", err, start) }(time.Now())
	page.Items = []store.CVESummary{}
	var (
		where []string
		args  []any
		order = "c.date_published DESC NULLS LAST, c.id"
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if strings.TrimSpace(q.Text) != "" {
		terms := store.SearchTerms(q.Text)
		if len(terms) == 0 {
			return page, nil // nothing searchable in the text: nothing matches
		}
		// The terms are letters and digits only; plainto_tsquery ANDs them
		// and cannot fail on any input.
		tsq := "plainto_tsquery('english', " + arg(text(strings.Join(terms, " "))) + ")"
		where = append(where, "c.search @@ "+tsq)
		order = "ts_rank(c.search, " + tsq + ") DESC, c.id"
	}
	if len(q.Severities) > 0 {
		sev := make([]string, len(q.Severities))
		for i, v := range q.Severities {
			sev[i] = text(strings.ToUpper(strings.TrimSpace(v)))
		}
		where = append(where, "c.severity = ANY("+arg(sev)+"::text[])")
	}
	if q.KEV != nil {
		if *q.KEV {
			where = append(where, kevExpr)
		} else {
			where = append(where, "NOT "+kevExpr)
		}
	}
	if q.CWE != "" {
		where = append(where, "EXISTS (SELECT 1 FROM cve_problems p WHERE p.cve_id = c.id AND p.cwe_id = "+
			arg(text(strings.ToUpper(strings.TrimSpace(q.CWE))))+")")
	}
	if q.State != "" {
		where = append(where, "c.state = "+arg(text(strings.ToUpper(strings.TrimSpace(q.State)))))
	}
	if !q.PublishedFrom.IsZero() {
		where = append(where, "c.date_published >= "+arg(ts(q.PublishedFrom)))
	}
	if !q.PublishedTo.IsZero() {
		where = append(where, "c.date_published < "+arg(ts(q.PublishedTo)))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}

	b := &pgx.Batch{}
	b.Queue("SELECT count(*) FROM cves c"+cond, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&page.Total)
	})
	pageArgs := append(append([]any{}, args...), q.PageLimit(), q.PageOffset())
	b.Queue(`SELECT c.id, c.state, c.title, c.description, c.severity, c.score, `+kevExpr+`, e.score, `+cwesExpr+`,
		c.date_published, c.date_updated_raw
		FROM cves c LEFT JOIN epss e ON e.cve_id = c.id`+cond+
		" ORDER BY "+order+" LIMIT $"+strconv.Itoa(len(args)+1)+" OFFSET $"+strconv.Itoa(len(args)+2), pageArgs...).
		Query(func(rows pgx.Rows) error {
			var it store.CVESummary
			var epssScore *float64
			var published pgtype.Timestamptz
			_, err := pgx.ForEachRow(rows, []any{&it.ID, &it.State, &it.Title, &it.Description, &it.Severity, &it.Score,
				&it.KEV, &epssScore, &it.CWEs, &published, &it.DateUpdated}, func() error {
				item := it
				item.EPSS, item.DatePublished, item.CWEs = epssScore, fromTS(published), nilIfEmpty(it.CWEs)
				page.Items = append(page.Items, item)
				epssScore, it.CWEs = nil, nil
				return nil
			})
			return err
		})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return store.CVEPage{}, fmt.Errorf("postgres store: search CVEs: %w", err)
	}
	return page, nil
}

// CVEStats counts stored records.
func (s *Store) CVEStats(ctx context.Context) (st store.CVEStats, err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "cve_stats", err, start) }(time.Now())
	st.BySeverity = map[string]int{}
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*), count(*) FILTER (WHERE c.state = 'REJECTED'), count(*) FILTER (WHERE ` + kevExpr + `),
		count(e.cve_id) FROM cves c LEFT JOIN epss e ON e.cve_id = c.id`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&st.Records, &st.Rejected, &st.KEV, &st.EPSS)
	})
	b.Queue(`SELECT severity, count(*) FROM cves GROUP BY severity`).Query(func(rows pgx.Rows) error {
		var sev string
		var n int
		_, err := pgx.ForEachRow(rows, []any{&sev, &n}, func() error {
			st.BySeverity[sev] = n
			return nil
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return store.CVEStats{}, fmt.Errorf("postgres store: CVE stats: %w", err)
	}
	return st, nil
}

// CVEVersions calls fn for every stored record's ID, raw dateUpdated and
// state, in ID (byte) order. An error from fn stops the walk and is
// returned.
func (s *Store) CVEVersions(ctx context.Context, fn func(id, dateUpdated, state string) error) error {
	rows, err := s.pool.Query(ctx, "SELECT id, date_updated_raw, state FROM cves ORDER BY id")
	if err != nil {
		return fmt.Errorf("postgres store: list CVE versions: %w", err)
	}
	var id, updated, state string
	_, err = pgx.ForEachRow(rows, []any{&id, &updated, &state}, func() error { return fn(id, updated, state) })
	if err != nil {
		return fmt.Errorf("postgres store: list CVE versions: %w", err)
	}
	return nil
}
