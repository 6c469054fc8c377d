package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/kubeward/kubeward/internal/alert"
)

// alertOrder is alert.AlertOrder in SQL; alerts_order_idx (migration
// 00007) and the per-column indexes after it are in this order.
const alertOrder = ` ORDER BY starts_at DESC, fingerprint`

// QueryAlerts implements alert.AlertStore. Everything but regular
// expression matchers and AlertQuery.Keep is evaluated in SQL. Without
// those, SQLite pages (LIMIT/OFFSET over the order index) and counts;
// with them, the alerts SQL selects are read in order and counted and
// paged in Go. The page and the count are read in one transaction, so
// they agree.
//
// A page is read in two steps: the fingerprints and versions of its
// alerts (from the order index alone), then the rows of those that the
// store's cache of decoded alerts does not hold at that version (see
// alertReader). Reading and decoding every column of every row of every
// page was most of the cost of GET /api/v1/alerts.
func (s *Store) QueryAlerts(ctx context.Context, q alert.AlertQuery) ([]alert.Alert, int, error) {
	plan, err := q.Plan()
	if err != nil {
		return nil, 0, err
	}
	where, args := alertWhere(plan)
	rd := s.alertReader()
	if plan.InGo() {
		return rd.queryInGo(ctx, s, plan, where, args)
	}
	// Prepared before the transaction takes a reader connection: preparing
	// needs one too.
	pageStmt, err := rd.statement(ctx, s, `SELECT fingerprint, version FROM alerts`+where+alertOrder+` LIMIT ? OFFSET ?`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	rowsStmt, err := rd.statement(ctx, s, `SELECT version, fingerprint, `+alertReadColumns+` FROM alerts WHERE fingerprint IN (SELECT value FROM json_each(?))`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	countStmt, err := rd.statement(ctx, s, `SELECT count(*) FROM alerts`+where)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: count alerts: %w", err)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	defer rollback(ctx, tx)
	limit := q.Limit
	if limit == 0 {
		limit = -1 // SQLite: no limit
	}
	keys, err := pageKeys(ctx, tx, pageStmt, append(args, limit, q.Offset))
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	page, err := rd.page(ctx, tx, rowsStmt, keys)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	if (q.Limit == 0 || len(page) < q.Limit) && (len(page) > 0 || q.Offset == 0) {
		// The page is the end of the selection: no need to count it.
		return page, q.Offset + len(page), nil
	}
	total, err := countAlerts(ctx, tx, countStmt, args)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: count alerts: %w", err)
	}
	return page, total, nil
}

// alertKey identifies a version of an alert: the fingerprint and the
// random version PutAlerts gave the row.
type alertKey struct {
	fingerprint string
	version     int64
}

// pageKeys reads the keys of a page.
func pageKeys(ctx context.Context, tx *sql.Tx, stmt *alertStmt, args []any) ([]alertKey, error) {
	rows, err := stmt.query(ctx, tx, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []alertKey
	for rows.Next() {
		var k alertKey
		if err := rows.Scan(&k.fingerprint, &k.version); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// queryInGo reads every alert that where selects, in order, and leaves
// the rest of the plan, the count and the page to Go.
func (rd *alertReader) queryInGo(ctx context.Context, s *Store, plan *alert.AlertQueryPlan, where string, args []any) ([]alert.Alert, int, error) {
	stmt, err := rd.statement(ctx, s, `SELECT `+alertReadColumns+` FROM alerts`+where+alertOrder)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	defer rollback(ctx, tx)
	rows, err := stmt.query(ctx, tx, args)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	defer rows.Close()
	pager := plan.Pager()
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
		}
		if plan.KeepInGo(&a) {
			pager.Add(a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite store: query alerts: %w", err)
	}
	page, total := pager.Result()
	return page, total, nil
}

// countAlerts runs the count statement stmt in tx.
func countAlerts(ctx context.Context, tx *sql.Tx, stmt *alertStmt, args []any) (int, error) {
	rows, err := stmt.query(ctx, tx, args)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, errors.Join(errors.New("count returned no row"), rows.Err())
	}
	var n int
	if err := rows.Scan(&n); err != nil {
		return 0, err
	}
	return n, rows.Close()
}

// alertStmt is a statement text and, when the store keeps it prepared,
// the prepared statement.
type alertStmt struct {
	text     string
	prepared *sql.Stmt // nil: prepare at each call
}

// query runs the statement in tx.
func (st *alertStmt) query(ctx context.Context, tx *sql.Tx, args []any) (*sql.Rows, error) {
	if st.prepared == nil {
		return tx.QueryContext(ctx, st.text, args...)
	}
	return tx.StmtContext(ctx, st.prepared).QueryContext(ctx, args...)
}

// Bounds of an alertReader's caches.
const (
	// maxAlertStatements bounds the prepared statements: their texts vary
	// with the filters (label names are part of them), so texts beyond it
	// are prepared at each call.
	maxAlertStatements = 64
	// maxCachedAlerts bounds the decoded alerts (under 1 KiB each for
	// typical label sets, so about 20 MiB at most); beyond it, an
	// arbitrary one is dropped for each new one.
	maxCachedAlerts = 20_000
)

// alertReader is what a store keeps to read alerts fast: prepared
// statements, by text (SQLite spent as long parsing and planning a page
// query as running it; database/sql prepares each once per reader
// connection), and decoded alerts, by fingerprint and version. An entry
// is right as long as its version is the stored one: PutAlerts gives
// every row it writes a new random version, so a changed alert is read
// again, whichever process changed it.
type alertReader struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	decoded map[string]cachedAlert // by fingerprint
}

// cachedAlert is a decoded alert at a version. The alert is never
// modified: readers get clones.
type cachedAlert struct {
	version int64
	alert   alert.Alert
}

// alertReaders holds each store's alertReader. The stores are held
// weakly: a store that is garbage collected takes its reader with it.
var alertReaders = struct {
	mu      sync.Mutex
	byStore map[weak.Pointer[Store]]*alertReader
}{byStore: map[weak.Pointer[Store]]*alertReader{}}

// alertReader returns the store's alertReader.
func (s *Store) alertReader() *alertReader {
	key := weak.Make(s)
	alertReaders.mu.Lock()
	defer alertReaders.mu.Unlock()
	rd, ok := alertReaders.byStore[key]
	if !ok {
		rd = &alertReader{stmts: map[string]*sql.Stmt{}, decoded: map[string]cachedAlert{}}
		alertReaders.byStore[key] = rd
		runtime.AddCleanup(s, forgetAlertReader, key)
	}
	return rd
}

// forgetAlertReader drops the reader of a collected store.
func forgetAlertReader(key weak.Pointer[Store]) {
	alertReaders.mu.Lock()
	rd := alertReaders.byStore[key]
	delete(alertReaders.byStore, key)
	alertReaders.mu.Unlock()
	if rd == nil {
		return
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for _, stmt := range rd.stmts {
		_ = stmt.Close() // the database may be closed already
	}
}

// statement returns the statement for text, prepared on s's readers
// unless maxAlertStatements others are. Call it outside a transaction:
// preparing takes a reader connection.
func (rd *alertReader) statement(ctx context.Context, s *Store, text string) (*alertStmt, error) {
	rd.mu.Lock()
	prepared, full := rd.stmts[text], len(rd.stmts) >= maxAlertStatements
	rd.mu.Unlock()
	if prepared != nil || full {
		return &alertStmt{text: text, prepared: prepared}, nil
	}
	prepared, err := s.r.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if other := rd.stmts[text]; other != nil { // prepared concurrently
		_ = prepared.Close()
		return &alertStmt{text: text, prepared: other}, nil
	}
	rd.stmts[text] = prepared
	return &alertStmt{text: text, prepared: prepared}, nil
}

// page returns the alerts keys name, in order: clones of the cached
// ones, and the others read in tx with stmt (which selects version,
// fingerprint and alertReadColumns of the fingerprints in a JSON array)
// and cached.
func (rd *alertReader) page(ctx context.Context, tx *sql.Tx, stmt *alertStmt, keys []alertKey) ([]alert.Alert, error) {
	out := make([]alert.Alert, len(keys))
	var missing []string
	rd.mu.Lock()
	for i, k := range keys {
		if c, ok := rd.decoded[k.fingerprint]; ok && c.version == k.version {
			out[i] = c.alert
		} else {
			missing = append(missing, k.fingerprint)
		}
	}
	rd.mu.Unlock()
	if len(missing) > 0 {
		read, err := readAlerts(ctx, tx, stmt, missing)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if c, ok := read[k.fingerprint]; ok && c.version != k.version {
				// Both were read in one snapshot: this cannot happen.
				return nil, fmt.Errorf("alert %s changed within a read transaction", k.fingerprint)
			}
		}
		if len(read) != len(missing) {
			return nil, fmt.Errorf("%d of %d alerts vanished within a read transaction", len(missing)-len(read), len(missing))
		}
		rd.mu.Lock()
		for i, k := range keys {
			c, ok := read[k.fingerprint]
			if !ok {
				continue // from the cache
			}
			out[i] = c.alert
			if _, cached := rd.decoded[k.fingerprint]; !cached && len(rd.decoded) >= maxCachedAlerts {
				for fp := range rd.decoded { // drop an arbitrary one
					delete(rd.decoded, fp)
					break
				}
			}
			rd.decoded[k.fingerprint] = c
		}
		rd.mu.Unlock()
	}
	// Cached alerts are shared: the caller gets its own copies.
	for i := range out {
		out[i] = out[i].Clone()
	}
	return out, nil
}

// readAlerts reads the alerts with the fingerprints, by fingerprint.
func readAlerts(ctx context.Context, tx *sql.Tx, stmt *alertStmt, fingerprints []string) (map[string]cachedAlert, error) {
	list, err := json.Marshal(fingerprints)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.query(ctx, tx, []any{string(list)})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	read := make(map[string]cachedAlert, len(fingerprints))
	for rows.Next() {
		var c cachedAlert
		var fp string
		if c.alert, err = scanAlert(rows, &c.version, &fp); err != nil {
			return nil, err
		}
		read[fp] = c
	}
	return read, rows.Err()
}

// alertWhere renders the conditions of plan that SQL evaluates as a
// WHERE clause (empty when there are none) and its arguments.
func alertWhere(plan *alert.AlertQueryPlan) (string, []any) {
	q := &plan.Query
	var conds []string
	var args []any
	if q.Firing != nil {
		if *q.Firing {
			conds = append(conds, `(ends_at IS NULL OR ends_at > ?)`)
		} else {
			conds = append(conds, `ends_at <= ?`)
		}
		args = append(args, fmtTime(q.Now).String)
	}
	in := func(column string, values []string) {
		if len(values) == 0 {
			return
		}
		conds = append(conds, column+` IN (?`+strings.Repeat(`, ?`, len(values)-1)+`)`)
		for _, v := range values {
			args = append(args, v)
		}
	}
	in(`severity`, stringsOf(q.Severities))
	in(`source`, stringsOf(q.Sources))
	if q.Acknowledged != nil {
		if *q.Acknowledged {
			conds = append(conds, `ack_by IS NOT NULL`)
		} else {
			conds = append(conds, `ack_by IS NULL`)
		}
	}
	for _, m := range plan.Pushed {
		switch {
		case m.Type == alert.MatchNotEqual:
			conds = append(conds, labelValue(m.Name)+` <> ?`)
		case m.Value != "" && m.Name != alert.LabelAlertName:
			// A missing label (NULL) never equals a value that is not
			// empty: without COALESCE, an index on the expression
			// (alerts_namespace_order_idx) serves it.
			conds = append(conds, `json_extract(labels, '$.`+m.Name+`') = ?`)
		default:
			conds = append(conds, labelValue(m.Name)+` = ?`)
		}
		args = append(args, m.Value)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// labelValue is the SQL value of the label name: its value, or the empty
// string when the alert lacks it. The alertname label has a column of its
// own (with an index). name is a valid label name (validated by the
// plan), so it is safe inside the JSON path literal.
func labelValue(name string) string {
	if name == alert.LabelAlertName {
		return `alertname`
	}
	return `COALESCE(json_extract(labels, '$.` + name + `'), '')`
}

// stringsOf converts severities or sources to strings.
func stringsOf[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
