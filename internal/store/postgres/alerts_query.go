package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kubeward/kubeward/internal/alert"
)

// alertOrder is alert.AlertOrder in SQL; alerts_order_idx (migration
// 00007) and the per-column indexes after it are in this order.
const alertOrder = ` ORDER BY starts_at DESC, fingerprint`

// QueryAlerts implements alert.AlertStore. Everything but regular
// expression matchers and AlertQuery.Keep is evaluated in SQL. Without
// those, PostgreSQL pages (LIMIT/OFFSET over the order index) and counts;
// with them, the alerts SQL selects are read in order and counted and
// paged in Go. The page and the count are read in one repeatable-read
// transaction, so they agree.
func (s *Store) QueryAlerts(ctx context.Context, q alert.AlertQuery) ([]alert.Alert, int, error) {
	plan, err := q.Plan()
	if err != nil {
		return nil, 0, err
	}
	where, args, err := alertWhere(plan)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres store: query alerts: %w", err)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres store: query alerts: %w", err)
	}
	defer rollback(ctx, tx)
	if plan.InGo() {
		pager := plan.Pager()
		err := scanAlerts(ctx, tx, `SELECT `+alertColumns+` FROM alerts`+where+alertOrder, args, func(a alert.Alert) {
			if plan.KeepInGo(&a) {
				pager.Add(a)
			}
		})
		if err != nil {
			return nil, 0, fmt.Errorf("postgres store: query alerts: %w", err)
		}
		page, total := pager.Result()
		return page, total, nil
	}
	query := `SELECT ` + alertColumns + ` FROM alerts` + where + alertOrder
	if q.Limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	query += ` OFFSET ` + strconv.Itoa(q.Offset)
	var page []alert.Alert
	if err := scanAlerts(ctx, tx, query, args, func(a alert.Alert) { page = append(page, a) }); err != nil {
		return nil, 0, fmt.Errorf("postgres store: query alerts: %w", err)
	}
	if (q.Limit == 0 || len(page) < q.Limit) && (len(page) > 0 || q.Offset == 0) {
		// The page is the end of the selection: no need to count it.
		return page, q.Offset + len(page), nil
	}
	var total int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM alerts`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres store: count alerts: %w", err)
	}
	return page, total, nil
}

// scanAlerts runs query and passes each alert it returns to yield.
func scanAlerts(ctx context.Context, tx pgx.Tx, query string, args []any, yield func(alert.Alert)) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return err
		}
		yield(a)
	}
	return rows.Err()
}

// alertWhere renders the conditions of plan that SQL evaluates as a
// WHERE clause (empty when there are none) and its arguments.
//
// Label matchers search the labels' JSON text. PostgreSQL's json
// operators refuse a document that holds \u0000 (which json columns keep
// and label values may contain), so they cannot be used; but labels is
// always a flat object written by json.Marshal, without whitespace, and
// inside a JSON string every '"' is escaped, so `"name":` occurs in the
// text exactly where the label name is a key, followed by the value as
// json.Marshal encodes it. A label has the value v exactly when the text
// contains `"name":` followed by v encoded that way. Alertnames are also
// compared on their indexed column first.
func alertWhere(plan *alert.AlertQueryPlan) (string, []any, error) {
	q := &plan.Query
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return `$` + strconv.Itoa(len(args))
	}
	if q.Firing != nil {
		if *q.Firing {
			conds = append(conds, `(ends_at IS NULL OR ends_at > `+arg(ts(q.Now))+`)`)
		} else {
			conds = append(conds, `ends_at <= `+arg(ts(q.Now)))
		}
	}
	in := func(column string, values []string) {
		switch len(values) {
		case 0:
		case 1: // = lets the planner read the column's index in order
			conds = append(conds, column+` = `+arg(values[0]))
		default:
			conds = append(conds, column+` = ANY(`+arg(values)+`)`)
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
		value, err := json.Marshal(m.Value)
		if err != nil {
			return "", nil, fmt.Errorf("encode the value of matcher %s: %w", m, err)
		}
		key := `"` + m.Name + `":` // a valid label name needs no escaping
		has := func(text string) string { return `strpos(labels::text, ` + arg(text) + `) > 0` }
		hasNot := func(text string) string { return `strpos(labels::text, ` + arg(text) + `) = 0` }
		var cond string
		switch {
		case m.Type == alert.MatchEqual && m.Value == "": // missing or empty
			cond = `(` + hasNot(key) + ` OR ` + has(key+`""`) + `)`
		case m.Type == alert.MatchEqual && m.Name == alert.LabelAlertName:
			cond = `alertname = ` + arg(text(m.Value)) + ` AND ` + has(key+string(value))
		case m.Type == alert.MatchEqual:
			cond = has(key + string(value))
		case m.Value == "": // != "": present and not empty
			cond = has(key) + ` AND ` + hasNot(key+`""`)
		default:
			cond = hasNot(key + string(value))
		}
		conds = append(conds, cond)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args, nil
}

// stringsOf converts severities or sources to strings.
func stringsOf[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
