package store

import (
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
)

// Dialect is what differs between the SQL backends when they build a
// filtered list query.
type Dialect struct {
	// Placeholder returns the n-th (1-based) bind parameter: "?" or "$n".
	Placeholder func(n int) string
	// ILike is the case-insensitive LIKE operator ("LIKE" in SQLite, whose
	// LIKE folds ASCII; "ILIKE" in PostgreSQL).
	ILike string
	// Time and Priority convert values to the backend's column types.
	Time     func(time.Time) any
	Priority func(int) any
}

// QuestionMarks is the SQLite placeholder style.
func QuestionMarks(int) string { return "?" }

// DollarNumbers is the PostgreSQL placeholder style.
func DollarNumbers(n int) string { return "$" + strconv.Itoa(n) }

// EventWhere turns a normalized event filter into a WHERE clause (empty
// when nothing filters) and its arguments, for the events table both
// backends share.
func EventWhere(f eventstore.Filter, d Dialect) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.Replace(cond, "?", d.Placeholder(len(args)), 1))
	}
	if f.Rule != "" {
		add("rule = ?", f.Rule)
	}
	if f.MinPriority != nil {
		add("priority <= ?", d.Priority(int(*f.MinPriority)))
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if !f.Since.IsZero() {
		add("time >= ?", d.Time(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < ?", d.Time(f.Until))
	}
	if f.Text != "" {
		add("output "+d.ILike+` ? ESCAPE '\'`, f.LikePattern())
	}
	if f.Namespace != "" {
		add("namespace = ?", f.Namespace)
	}
	if f.Pod != "" {
		add("pod = ?", f.Pod)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
