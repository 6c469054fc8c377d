package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/kubeward/kubeward/internal/store"
)

// upsertCVESQL inserts a record or replaces an older stored version (the
// caller has checked store.Version.Replaces; the WHERE clause guards the
// same rule anyway).
// RETURNING yields the row's seq only when it was written.
const upsertCVESQL = `
INSERT INTO cves (id, state, data_version, assigner, date_reserved, date_published, date_updated, date_rejected,
	date_updated_raw, title, description, severity, score, kev, raw, stored_at, published)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
ON CONFLICT (id) DO UPDATE SET
	state = excluded.state, data_version = excluded.data_version, assigner = excluded.assigner,
	date_reserved = excluded.date_reserved, date_published = excluded.date_published,
	date_updated = excluded.date_updated, date_rejected = excluded.date_rejected,
	date_updated_raw = excluded.date_updated_raw, title = excluded.title,
	description = excluded.description, severity = excluded.severity, score = excluded.score,
	kev = excluded.kev, raw = excluded.raw, stored_at = excluded.stored_at, published = excluded.published
WHERE excluded.date_updated IS NOT NULL AND (cves.date_updated IS NULL
	OR (excluded.published IS NOT NULL AND cves.published IS NOT NULL AND (excluded.published > cves.published
		OR (excluded.published = cves.published AND excluded.date_updated > cves.date_updated)))
	OR ((excluded.published IS NULL OR cves.published IS NULL) AND excluded.date_updated > cves.date_updated))
RETURNING seq`

// childTable is a table holding one of a record's lists, deleted and
// rewritten when the record is replaced.
type childTable struct {
	name string
	cols []string
}

// childTables, in the order childRows fills them.
var childTables = [...]childTable{
	{"cve_descriptions", []string{"cve_id", "ord", "lang", "value"}},
	{"cve_problems", []string{"cve_id", "ord", "cwe_id", "description", "type", "source"}},
	{"cve_metrics", []string{"cve_id", "ord", "source", "format", "version", "vector", "base_score", "reported_score", "severity", "error"}},
	{"cve_references", []string{"cve_id", "ord", "url", "name", "tags", "source"}},
	{"cve_affected", []string{"cve_id", "ord", "source", "vendor", "product", "package_name", "collection_url", "default_status", "versions", "cpes"}},
	{"cve_ssvc", []string{"cve_id", "exploitation", "automatable", "technical_impact", "role", "version", "timestamp"}},
	{"cve_kev_adp", []string{"cve_id", "date_added", "reference"}},
}

// Indexes into childTables and childRows.
const (
	tDescriptions = iota
	tProblems
	tMetrics
	tReferences
	tAffected
	tSSVC
	tKEV
)

// deleteChildSQL deletes the child rows of the IDs in a JSON array.
var deleteChildSQL [len(childTables)]string

func init() {
	for i, t := range childTables {
		deleteChildSQL[i] = "DELETE FROM " + t.name + " WHERE cve_id IN (SELECT value FROM json_each(?))"
	}
}

// ftsTable is the full-text index as insertRows writes it.
var ftsTable = childTable{"cve_fts", []string{"rowid", "id", "title", "body"}}

const deleteFTSSQL = `DELETE FROM cve_fts WHERE rowid IN (SELECT value FROM json_each(?))`

// rowsPerInsert is how many rows one multi-row INSERT writes. Every
// statement costs a round through the driver and, for FTS5, an index flush,
// so rows go in a few large statements rather than one each; the bound
// keeps the statement's parameters (rows × columns) well under SQLite's
// limit of 32766.
const rowsPerInsert = 500

// insertRows inserts rows into t with multi-row INSERT statements.
func insertRows(ctx context.Context, tx *sql.Tx, t childTable, rows [][]any) error {
	var full *sql.Stmt
	for start := 0; start < len(rows); start += rowsPerInsert {
		chunk := rows[start:min(start+rowsPerInsert, len(rows))]
		args := make([]any, 0, len(chunk)*len(t.cols))
		for _, r := range chunk {
			args = append(args, r...)
		}
		if len(chunk) < rowsPerInsert {
			if _, err := tx.ExecContext(ctx, insertSQL(t, len(chunk)), args...); err != nil {
				return fmt.Errorf("insert into %s: %w", t.name, err)
			}
			continue
		}
		if full == nil {
			var err error
			if full, err = tx.PrepareContext(ctx, insertSQL(t, rowsPerInsert)); err != nil {
				return fmt.Errorf("insert into %s: %w", t.name, err)
			}
			defer full.Close()
		}
		if _, err := full.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert into %s: %w", t.name, err)
		}
	}
	return nil
}

// insertSQL is an INSERT of n rows into t.
func insertSQL(t childTable, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	var b strings.Builder
	b.Grow(32 + len(t.name) + n*(len(row)+2))
	b.WriteString("INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// UpsertCVEs writes recs in one transaction; see store.CVEStore.
func (s *Store) UpsertCVEs(ctx context.Context, recs []*cve.Record) (store.UpsertResult, error) {
	started := time.Now()
	res, err := s.upsertCVEs(ctx, recs)
	store.ObserveUpsert(Backend, len(recs), res, err, started)
	return res, err
}

func (s *Store) upsertCVEs(ctx context.Context, recs []*cve.Record) (store.UpsertResult, error) {
	latest, dups, err := store.LatestVersions(recs)
	if err != nil || len(latest) == 0 {
		return store.UpsertResult{}, err
	}
	ids := make([]string, len(latest))
	for i, r := range latest {
		ids[i] = r.ID
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVEs: begin: %w", err)
	}
	defer rollback(ctx, tx)

	// Which records exist already? The writer holds the write lock, so the
	// answer stays true until commit.
	stored, err := storedVersions(ctx, tx, ids)
	if err != nil {
		return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVEs: look up stored versions: %w", err)
	}
	upsert, err := tx.PrepareContext(ctx, upsertCVESQL)
	if err != nil {
		return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVEs: prepare: %w", err)
	}
	defer upsert.Close()

	now := fmtTime(time.Now())
	var (
		written      int
		replacedIDs  []string
		replacedSeqs []int64
		search       [][]any // rowid, id, title, body
		children     childRows
	)
	for _, r := range latest {
		prev, exists := stored[r.ID]
		if exists && !store.VersionOf(r).Replaces(prev) {
			continue
		}
		ix := store.Index(r)
		var seq int64
		err := upsert.QueryRowContext(ctx, r.ID, r.State, r.DataVersion, r.AssignerShortName,
			fmtTime(r.DateReserved), fmtTime(r.DatePublished), fmtTime(r.DateUpdated), fmtTime(r.DateRejected),
			r.DateUpdatedRaw, r.Title, ix.Description, ix.Severity, ix.Score, ix.KEV, []byte(r.Raw), now, fmtTime(r.Published)).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not newer after all
		}
		if err != nil {
			return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVE %s: %w", r.ID, err)
		}
		if exists {
			replacedIDs = append(replacedIDs, r.ID)
			replacedSeqs = append(replacedSeqs, seq)
		}
		search = append(search, []any{seq, ix.SearchID, ix.SearchTitle, ix.SearchBody})
		if err := children.add(r); err != nil {
			return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVE %s: %w", r.ID, err)
		}
		written++
	}

	exec := func(what, query string, arg any) error {
		b, err := json.Marshal(arg)
		if err != nil {
			return fmt.Errorf("sqlite store: upsert CVEs: encode %s: %w", what, err)
		}
		if _, err := tx.ExecContext(ctx, query, string(b)); err != nil {
			return fmt.Errorf("sqlite store: upsert CVEs: %s: %w", what, err)
		}
		return nil
	}
	if len(replacedIDs) > 0 {
		for i, t := range childTables {
			if err := exec("delete replaced "+t.name, deleteChildSQL[i], replacedIDs); err != nil {
				return store.UpsertResult{}, err
			}
		}
	}
	for i, t := range childTables {
		if err := insertRows(ctx, tx, t, children[i]); err != nil {
			return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVEs: %w", err)
		}
	}
	// The search index last, delete then insert: FTS5 flushes pending
	// changes at the end of every later statement of the transaction.
	if len(replacedSeqs) > 0 {
		if err := exec("delete replaced search entries", deleteFTSSQL, replacedSeqs); err != nil {
			return store.UpsertResult{}, err
		}
	}
	if err := insertRows(ctx, tx, ftsTable, search); err != nil {
		return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVEs: index for search: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return store.UpsertResult{}, fmt.Errorf("sqlite store: upsert CVEs: commit: %w", err)
	}
	return store.UpsertResult{Written: written, Skipped: dups + len(latest) - written}, nil
}

// storedVersions returns the stored versions of those of ids that exist.
func storedVersions(ctx context.Context, tx *sql.Tx, ids []string) (map[string]store.Version, error) {
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, date_updated, published FROM cves WHERE id IN (SELECT value FROM json_each(?))`, string(idsJSON))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make(map[string]store.Version, len(ids))
	for rows.Next() {
		var id string
		var upd, pub sql.NullString
		if err := rows.Scan(&id, &upd, &pub); err != nil {
			return nil, err
		}
		var v store.Version
		if v.Updated, err = parseTime(upd); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		if v.Published, err = parseTime(pub); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		stored[id] = v
	}
	return stored, rows.Err()
}

// childRows collects the child rows of a batch, per table, in the column
// order of childTables.
type childRows [len(childTables)][][]any

func (c *childRows) add(r *cve.Record) error {
	for i, d := range r.Descriptions {
		c[tDescriptions] = append(c[tDescriptions], []any{r.ID, i, d.Lang, d.Value})
	}
	for i, p := range r.Problems {
		c[tProblems] = append(c[tProblems], []any{r.ID, i, p.CWEID, p.Description, p.Type, p.Source})
	}
	for i, m := range r.Metrics {
		c[tMetrics] = append(c[tMetrics], []any{r.ID, i, m.Source, m.Format, m.Version, m.Vector,
			m.BaseScore, m.ReportedScore, m.Severity, m.Error})
	}
	for i, ref := range r.References {
		tags, err := jsonList(ref.Tags)
		if err != nil {
			return fmt.Errorf("encode tags of reference %d: %w", i, err)
		}
		c[tReferences] = append(c[tReferences], []any{r.ID, i, ref.URL, ref.Name, tags, ref.Source})
	}
	for i, a := range r.Affected {
		versions, err := jsonList(a.Versions)
		if err != nil {
			return fmt.Errorf("encode versions of affected %d: %w", i, err)
		}
		cpes, err := jsonList(a.CPEs)
		if err != nil {
			return fmt.Errorf("encode CPEs of affected %d: %w", i, err)
		}
		c[tAffected] = append(c[tAffected], []any{r.ID, i, a.Source, a.Vendor, a.Product, a.PackageName,
			a.CollectionURL, a.DefaultStatus, versions, cpes})
	}
	if v := r.SSVC; v != nil {
		c[tSSVC] = append(c[tSSVC], []any{r.ID, v.Exploitation, v.Automatable, v.TechnicalImpact,
			v.Role, v.Version, fmtTime(v.Timestamp)})
	}
	if k := r.KEV; k != nil {
		c[tKEV] = append(c[tKEV], []any{r.ID, fmtTime(k.DateAdded), k.Reference})
	}
	return nil
}

// jsonList encodes a list for a JSON array column; nil is [].
func jsonList[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// GetCVE returns the record rebuilt from the normalized tables, with its raw
// JSON, KEV catalog entry and EPSS score; see store.CVEStore.
func (s *Store) GetCVE(ctx context.Context, id string) (d *store.CVEDetail, err error) {
	defer func(start time.Time) { store.ObserveOperation(Backend, "get_cve", err, start) }(time.Now())
	// One read transaction: one snapshot for the record and its children.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get %s: begin: %w", id, err)
	}
	defer rollback(ctx, tx)
	d, err = getCVE(ctx, tx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("sqlite store: get %s: %w", id, err)
	}
	return d, nil
}

func getCVE(ctx context.Context, tx *sql.Tx, id string) (*store.CVEDetail, error) {
	r := &cve.Record{}
	var res, pub, upd, rej sql.NullString
	var raw []byte
	err := tx.QueryRowContext(ctx, `SELECT id, state, data_version, assigner, date_reserved, date_published, date_updated,
		date_rejected, date_updated_raw, title, raw FROM cves WHERE id = ?`, id).Scan(&r.ID, &r.State, &r.DataVersion,
		&r.AssignerShortName, &res, &pub, &upd, &rej, &r.DateUpdatedRaw, &r.Title, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("CVE %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		r.Raw = raw
	}
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&r.DateReserved, res}, {&r.DatePublished, pub}, {&r.DateUpdated, upd}, {&r.DateRejected, rej}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, err
		}
	}

	if err := eachRow(ctx, tx, `SELECT lang, value FROM cve_descriptions WHERE cve_id = ? ORDER BY ord`, id, func(rows *sql.Rows) error {
		var x cve.Description
		if err := rows.Scan(&x.Lang, &x.Value); err != nil {
			return err
		}
		r.Descriptions = append(r.Descriptions, x)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("descriptions: %w", err)
	}
	if err := eachRow(ctx, tx, `SELECT cwe_id, description, type, source FROM cve_problems WHERE cve_id = ? ORDER BY ord`, id, func(rows *sql.Rows) error {
		var x cve.Problem
		if err := rows.Scan(&x.CWEID, &x.Description, &x.Type, &x.Source); err != nil {
			return err
		}
		r.Problems = append(r.Problems, x)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("problem types: %w", err)
	}
	if err := eachRow(ctx, tx, `SELECT source, format, version, vector, base_score, reported_score, severity, error
		FROM cve_metrics WHERE cve_id = ? ORDER BY ord`, id, func(rows *sql.Rows) error {
		var x cve.Metric
		if err := rows.Scan(&x.Source, &x.Format, &x.Version, &x.Vector, &x.BaseScore, &x.ReportedScore, &x.Severity, &x.Error); err != nil {
			return err
		}
		r.Metrics = append(r.Metrics, x)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := eachRow(ctx, tx, `SELECT url, name, tags, source FROM cve_references WHERE cve_id = ? ORDER BY ord`, id, func(rows *sql.Rows) error {
		var x cve.Reference
		var tags string
		if err := rows.Scan(&x.URL, &x.Name, &tags, &x.Source); err != nil {
			return err
		}
		if err := decodeList(tags, &x.Tags); err != nil {
			return fmt.Errorf("tags: %w", err)
		}
		r.References = append(r.References, x)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("references: %w", err)
	}
	if err := eachRow(ctx, tx, `SELECT source, vendor, product, package_name, collection_url, default_status, versions, cpes
		FROM cve_affected WHERE cve_id = ? ORDER BY ord`, id, func(rows *sql.Rows) error {
		var x cve.Affected
		var versions, cpes string
		if err := rows.Scan(&x.Source, &x.Vendor, &x.Product, &x.PackageName, &x.CollectionURL, &x.DefaultStatus, &versions, &cpes); err != nil {
			return err
		}
		if err := decodeList(versions, &x.Versions); err != nil {
			return fmt.Errorf("versions: %w", err)
		}
		if err := decodeList(cpes, &x.CPEs); err != nil {
			return fmt.Errorf("CPEs: %w", err)
		}
		r.Affected = append(r.Affected, x)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("affected: %w", err)
	}

	var v cve.SSVC
	var vts sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT exploitation, automatable, technical_impact, role, version, timestamp
		FROM cve_ssvc WHERE cve_id = ?`, id).Scan(&v.Exploitation, &v.Automatable, &v.TechnicalImpact, &v.Role, &v.Version, &vts)
	switch {
	case err == nil:
		if v.Timestamp, err = parseTime(vts); err != nil {
			return nil, fmt.Errorf("SSVC: %w", err)
		}
		r.SSVC = &v
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("SSVC: %w", err)
	}

	var k cve.KEV
	var added sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT date_added, reference FROM cve_kev_adp WHERE cve_id = ?`, id).Scan(&added, &k.Reference)
	switch {
	case err == nil:
		if k.DateAdded, err = parseTime(added); err != nil {
			return nil, fmt.Errorf("KEV metric: %w", err)
		}
		r.KEV = &k
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("KEV metric: %w", err)
	}

	d := &store.CVEDetail{Record: r}
	if d.KEV, err = scanKEV(tx.QueryRowContext(ctx, kevSelect+` WHERE cve_id = ?`, id)); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("KEV catalog entry: %w", err)
	}
	if d.EPSS, err = scanEPSS(tx.QueryRowContext(ctx, epssSelect+` WHERE cve_id = ?`, id)); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("EPSS score: %w", err)
	}
	return d, nil
}

// eachRow runs query with arg and calls fn for each row.
func eachRow(ctx context.Context, tx *sql.Tx, query string, arg any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// decodeList decodes a JSON array column; an empty array leaves *dst nil.
func decodeList[T any](s string, dst *[]T) error {
	if s == "" || s == "[]" {
		*dst = nil
		return nil
	}
	return json.Unmarshal([]byte(s), dst)
}
