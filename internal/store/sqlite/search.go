package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/store"
)

// kevExpr is true for a cves row (alias c) that carries the CISA-ADP KEV
// metric or is in the KEV catalog.
const kevExpr = `(c.kev OR EXISTS (SELECT 1 FROM kev_catalog k WHERE k.cve_id = c.id))`

// cwesExpr lists a cves row's distinct CWE IDs in order of appearance, as a
// JSON array.
const cwesExpr = `(SELECT json_group_array(cwe_id) FROM (SELECT p.cwe_id FROM cve_problems p
	WHERE p.cve_id = c.id AND p.cwe_id <> '' GROUP BY p.cwe_id ORDER BY min(p.ord)))`

// ftsQuery turns search terms into an FTS5 query that matches rows holding
// every term. Terms are letters and digits only (store.SearchTerms) and each
// is quoted, so no user input is read as FTS5 syntax.
func ftsQuery(terms []string) string {
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return strings.Join(q, " ")
}

// SearchCVEs runs a full-text search with filters; see store.CVEQuery.
func (s *Store) SearchCVEs(ctx context.Context, q store.CVEQuery) (page store.CVEPage, err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "search_cves", err, start) }(time.Now())
	page.Items = []store.CVESummary{}
	var (
		where []string
		args  []any
		from  = "cves c"
		order = "c.date_published DESC, c.id"
	)
	if strings.TrimSpace(q.Text) != "" {
		terms := store.SearchTerms(q.Text)
		if len(terms) == 0 {
			return page, nil // nothing searchable in the text: nothing matches
		}
		from = "cve_fts JOIN cves c ON c.seq = cve_fts.rowid"
		where = append(where, "cve_fts MATCH ?")
		args = append(args, ftsQuery(terms))
		// Columns: id, title, body; a hit in the ID or title counts more.
		order = "bm25(cve_fts, 10.0, 5.0, 1.0), c.id"
	}
	if len(q.Severities) > 0 {
		ph := make([]string, len(q.Severities))
		for i, v := range q.Severities {
			ph[i] = "?"
			args = append(args, strings.ToUpper(strings.TrimSpace(v)))
		}
		where = append(where, "c.severity IN ("+strings.Join(ph, ", ")+")")
	}
	if q.KEV != nil {
		if *q.KEV {
			where = append(where, kevExpr)
		} else {
			where = append(where, "NOT "+kevExpr)
		}
	}
	if q.CWE != "" {
		where = append(where, "EXISTS (SELECT 1 FROM cve_problems p WHERE p.cve_id = c.id AND p.cwe_id = ?)")
		args = append(args, strings.ToUpper(strings.TrimSpace(q.CWE)))
	}
	if q.State != "" {
		where = append(where, "c.state = ?")
		args = append(args, strings.ToUpper(strings.TrimSpace(q.State)))
	}
	if !q.PublishedFrom.IsZero() {
		where = append(where, "c.date_published >= ?")
		args = append(args, fmtTime(q.PublishedFrom))
	}
	if !q.PublishedTo.IsZero() {
		where = append(where, "c.date_published < ?")
		args = append(args, fmtTime(q.PublishedTo))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}

	// Count and page from one snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+from+cond, args...).Scan(&page.Total); err != nil {
		return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: count: %w", err)
	}
	if page.Total <= q.PageOffset() {
		return page, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.state, c.title, c.description, c.severity, c.score, `+kevExpr+`,
		e.score, `+cwesExpr+`, c.date_published, c.date_updated_raw
		FROM `+from+` LEFT JOIN epss e ON e.cve_id = c.id`+cond+" ORDER BY "+order+" LIMIT ? OFFSET ?",
		append(args, q.PageLimit(), q.PageOffset())...)
	if err != nil {
		return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it store.CVESummary
		var epssScore sql.NullFloat64
		var cwes string
		var published sql.NullString
		if err := rows.Scan(&it.ID, &it.State, &it.Title, &it.Description, &it.Severity, &it.Score, &it.KEV,
			&epssScore, &cwes, &published, &it.DateUpdated); err != nil {
			return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: %w", err)
		}
		if epssScore.Valid {
			it.EPSS = &epssScore.Float64
		}
		if err := decodeList(cwes, &it.CWEs); err != nil {
			return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: CWEs of %s: %w", it.ID, err)
		}
		if it.DatePublished, err = parseTime(published); err != nil {
			return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: %s: %w", it.ID, err)
		}
		page.Items = append(page.Items, it)
	}
	if err := rows.Err(); err != nil {
		return store.CVEPage{}, fmt.Errorf("sqlite store: search CVEs: %w", err)
	}
	return page, nil
}

// CVEStats counts stored records.
func (s *Store) CVEStats(ctx context.Context) (st store.CVEStats, err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "cve_stats", err, start) }(time.Now())
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.CVEStats{}, fmt.Errorf("sqlite store: CVE stats: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if err := tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE c.state = 'REJECTED'),
		count(*) FILTER (WHERE `+kevExpr+`), count(e.cve_id) FROM cves c LEFT JOIN epss e ON e.cve_id = c.id`).
		Scan(&st.Records, &st.Rejected, &st.KEV, &st.EPSS); err != nil {
		return store.CVEStats{}, fmt.Errorf("sqlite store: CVE stats: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT severity, count(*) FROM cves GROUP BY severity`)
	if err != nil {
		return store.CVEStats{}, fmt.Errorf("sqlite store: CVE stats: %w", err)
	}
	defer rows.Close()
	st.BySeverity = map[string]int{}
	for rows.Next() {
		var sev string
		var n int
		if err := rows.Scan(&sev, &n); err != nil {
			return store.CVEStats{}, fmt.Errorf("sqlite store: CVE stats: %w", err)
		}
		st.BySeverity[sev] = n
	}
	if err := rows.Err(); err != nil {
		return store.CVEStats{}, fmt.Errorf("sqlite store: CVE stats: %w", err)
	}
	return st, nil
}

// CVEVersions calls fn for every stored record's ID, raw dateUpdated and
// state, in ID (byte) order. An error from fn stops the walk and is
// returned.
func (s *Store) CVEVersions(ctx context.Context, fn func(id, dateUpdated, state string) error) error {
	rows, err := s.r.QueryContext(ctx, "SELECT id, date_updated_raw, state FROM cves ORDER BY id")
	if err != nil {
		return fmt.Errorf("sqlite store: list CVE versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, updated, state string
		if err := rows.Scan(&id, &updated, &state); err != nil {
			return fmt.Errorf("sqlite store: list CVE versions: %w", err)
		}
		if err := fn(id, updated, state); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite store: list CVE versions: %w", err)
	}
	return nil
}
