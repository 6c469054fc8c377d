package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// The alert pipeline's state (alert.Storage) lives in the tables of
// migration 00002_alerts.sql.
var _ alert.Storage = (*Store)(nil)

const alertColumns = `fingerprint, alertname, severity, source, labels, annotations, starts_at, ends_at,
	updated_at, generator_id, generator_url, ack_by, ack_comment, ack_at`

// alertReadColumns are the columns scanAlert reads: every column but
// alertname, which the labels hold (every column read costs, and a page
// reads many rows).
const alertReadColumns = `fingerprint, severity, source, labels, annotations, starts_at, ends_at,
	updated_at, generator_id, generator_url, ack_by, ack_comment, ack_at`

// PutAlerts implements alert.AlertStore: it upserts alerts in one
// transaction; a later alert with the same fingerprint wins.
func (s *Store) PutAlerts(ctx context.Context, alerts []alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: put %d alerts: %w", len(alerts), err)
	}
	defer rollback(ctx, tx)
	// Each row written gets a new random version (see alertReader).
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO alerts (`+alertColumns+`, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (fingerprint) DO UPDATE SET version = excluded.version,
			alertname = excluded.alertname, severity = excluded.severity,
			source = excluded.source, labels = excluded.labels, annotations = excluded.annotations,
			starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = excluded.updated_at,
			generator_id = excluded.generator_id, generator_url = excluded.generator_url,
			ack_by = excluded.ack_by, ack_comment = excluded.ack_comment, ack_at = excluded.ack_at`)
	if err != nil {
		return fmt.Errorf("sqlite store: put alerts: %w", err)
	}
	defer stmt.Close()
	for i := range alerts {
		a := &alerts[i]
		labels, err := json.Marshal(a.Labels)
		if err != nil {
			return fmt.Errorf("sqlite store: put alert %s: encode labels: %w", a.Fingerprint(), err)
		}
		var annotations sql.NullString
		if len(a.Annotations) > 0 {
			b, err := json.Marshal(a.Annotations)
			if err != nil {
				return fmt.Errorf("sqlite store: put alert %s: encode annotations: %w", a.Fingerprint(), err)
			}
			annotations = sql.NullString{String: string(b), Valid: true}
		}
		var ackBy, ackComment, ackAt sql.NullString
		if a.Ack != nil {
			ackBy = sql.NullString{String: a.Ack.By, Valid: true}
			ackComment = sql.NullString{String: a.Ack.Comment, Valid: true}
			ackAt = fmtTime(a.Ack.At)
		}
		if _, err := stmt.ExecContext(ctx, a.Fingerprint().String(), a.Name(), string(a.Severity), string(a.Source),
			string(labels), annotations, fmtTime(a.StartsAt), fmtTime(a.EndsAt), fmtTime(a.UpdatedAt),
			a.GeneratorID, a.GeneratorURL, ackBy, ackComment, ackAt, rand.Int64()); err != nil {
			return fmt.Errorf("sqlite store: put alert %s: %w", a.Fingerprint(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: put %d alerts: commit: %w", len(alerts), err)
	}
	return nil
}

// GetAlert implements alert.AlertStore.
func (s *Store) GetAlert(ctx context.Context, fp alert.Fingerprint) (alert.Alert, error) {
	// Rows, not a Row: scanAlert reads the JSON columns as sql.RawBytes.
	rows, err := s.r.QueryContext(ctx, `SELECT `+alertReadColumns+` FROM alerts WHERE fingerprint = ?`, fp.String())
	if err != nil {
		return alert.Alert{}, fmt.Errorf("sqlite store: get alert %s: %w", fp, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return alert.Alert{}, fmt.Errorf("sqlite store: get alert %s: %w", fp, err)
		}
		return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, alert.ErrNotFound)
	}
	a, err := scanAlert(rows)
	if err != nil {
		return alert.Alert{}, fmt.Errorf("sqlite store: get alert %s: %w", fp, err)
	}
	return a, nil
}

// ListAlerts implements alert.AlertStore: every alert, by fingerprint.
func (s *Store) ListAlerts(ctx context.Context) ([]alert.Alert, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+alertReadColumns+` FROM alerts ORDER BY fingerprint`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list alerts: %w", err)
	}
	defer rows.Close()
	var out []alert.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list alerts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list alerts: %w", err)
	}
	return out, nil
}

// DeleteAlertsResolvedBefore implements alert.AlertStore.
func (s *Store) DeleteAlertsResolvedBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM alerts WHERE ends_at IS NOT NULL AND ends_at < ?`, fmtTime(t))
	if err != nil {
		return 0, fmt.Errorf("sqlite store: delete alerts resolved before %s: %w", t.Format(time.RFC3339), err)
	}
	return affected(res)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanAlert reads the alert at the current row of rows, which selects
// alertReadColumns after a column for each of head (scanned into them).
func scanAlert(rows *sql.Rows, head ...any) (alert.Alert, error) {
	var (
		a                            alert.Alert
		severity, source             string
		fp, labels, annotations      sql.RawBytes // NULL: nil; valid until the next row
		starts, ends, updated, ackAt sql.NullString
		ackBy, ackComment            sql.NullString
	)
	if err := rows.Scan(append(head, &fp, &severity, &source, &labels, &annotations, &starts, &ends, &updated,
		&a.GeneratorID, &a.GeneratorURL, &ackBy, &ackComment, &ackAt)...); err != nil {
		return alert.Alert{}, err
	}
	a.Severity, a.Source = alert.Severity(severity), alert.Source(source)
	var err error
	if a.Labels, err = alert.DecodeStoredMap(labels); err != nil {
		return alert.Alert{}, fmt.Errorf("alert %s: stored labels: %w", fp, err)
	}
	if annotations != nil {
		if a.Annotations, err = alert.DecodeStoredMap(annotations); err != nil {
			return alert.Alert{}, fmt.Errorf("alert %s: stored annotations: %w", fp, err)
		}
	}
	if a.StartsAt, err = parseTime(starts); err != nil {
		return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, err)
	}
	if a.EndsAt, err = parseTime(ends); err != nil {
		return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, err)
	}
	if a.UpdatedAt, err = parseTime(updated); err != nil {
		return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, err)
	}
	if ackBy.Valid {
		a.Ack = &alert.Ack{By: ackBy.String, Comment: ackComment.String}
		if a.Ack.At, err = parseTime(ackAt); err != nil {
			return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, err)
		}
	}
	return a, nil
}

const silenceColumns = `id, matchers, starts_at, ends_at, created_by, comment, updated_at`

// PutSilence implements alert.SilenceStore.
func (s *Store) PutSilence(ctx context.Context, sil alert.Silence) error {
	matchers, err := json.Marshal(nonNil(sil.Matchers))
	if err != nil {
		return fmt.Errorf("sqlite store: put silence %q: encode matchers: %w", sil.ID, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO alert_silences (`+silenceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
			ends_at = excluded.ends_at, created_by = excluded.created_by, comment = excluded.comment,
			updated_at = excluded.updated_at`,
		sil.ID, string(matchers), fmtTime(sil.StartsAt), fmtTime(sil.EndsAt), sil.CreatedBy, sil.Comment, fmtTime(sil.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlite store: put silence %q: %w", sil.ID, err)
	}
	return nil
}

// GetSilence implements alert.SilenceStore.
func (s *Store) GetSilence(ctx context.Context, id string) (alert.Silence, error) {
	sil, err := scanSilence(s.r.QueryRowContext(ctx, `SELECT `+silenceColumns+` FROM alert_silences WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return alert.Silence{}, fmt.Errorf("silence %q: %w", id, alert.ErrNotFound)
	}
	if err != nil {
		return alert.Silence{}, fmt.Errorf("sqlite store: get silence %q: %w", id, err)
	}
	return sil, nil
}

// ListSilences implements alert.SilenceStore: every silence, by StartsAt
// then ID.
func (s *Store) ListSilences(ctx context.Context) ([]alert.Silence, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+silenceColumns+` FROM alert_silences ORDER BY starts_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list silences: %w", err)
	}
	defer rows.Close()
	var out []alert.Silence
	for rows.Next() {
		sil, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list silences: %w", err)
		}
		out = append(out, sil)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list silences: %w", err)
	}
	return out, nil
}

// DeleteSilencesEndedBefore implements alert.SilenceStore.
func (s *Store) DeleteSilencesEndedBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM alert_silences WHERE ends_at < ?`, fmtTime(t))
	if err != nil {
		return 0, fmt.Errorf("sqlite store: delete silences ended before %s: %w", t.Format(time.RFC3339), err)
	}
	return affected(res)
}

func scanSilence(sc scanner) (alert.Silence, error) {
	var (
		sil                   alert.Silence
		matchers              string
		starts, ends, updated sql.NullString
	)
	if err := sc.Scan(&sil.ID, &matchers, &starts, &ends, &sil.CreatedBy, &sil.Comment, &updated); err != nil {
		return alert.Silence{}, err
	}
	if err := json.Unmarshal([]byte(matchers), &sil.Matchers); err != nil {
		return alert.Silence{}, fmt.Errorf("silence %q: stored matchers: %w", sil.ID, err)
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&sil.StartsAt, starts}, {&sil.EndsAt, ends}, {&sil.UpdatedAt, updated}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return alert.Silence{}, fmt.Errorf("silence %q: %w", sil.ID, err)
		}
	}
	return sil, nil
}

// LastNotification implements alert.NotificationLog.
func (s *Store) LastNotification(ctx context.Context, integration, groupKey string) (alert.NotificationEntry, error) {
	e := alert.NotificationEntry{Integration: integration, GroupKey: groupKey}
	var firing, resolved string
	var sent, expires sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT alert_set_hash, firing_alerts, resolved_alerts, sent_at, expires_at
		FROM alert_notifications WHERE integration = ? AND group_key = ?`, integration, groupKey).
		Scan(&e.AlertSetHash, &firing, &resolved, &sent, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return alert.NotificationEntry{}, fmt.Errorf("notification log entry %s %s: %w", integration, groupKey, alert.ErrNotFound)
	}
	if err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("sqlite store: notification log entry %s %s: %w", integration, groupKey, err)
	}
	if err := json.Unmarshal([]byte(firing), &e.FiringAlerts); err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("sqlite store: notification log entry %s %s: stored firing alerts: %w", integration, groupKey, err)
	}
	if err := json.Unmarshal([]byte(resolved), &e.ResolvedAlerts); err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("sqlite store: notification log entry %s %s: stored resolved alerts: %w", integration, groupKey, err)
	}
	if e.SentAt, err = parseTime(sent); err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("sqlite store: notification log entry %s %s: %w", integration, groupKey, err)
	}
	if e.ExpiresAt, err = parseTime(expires); err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("sqlite store: notification log entry %s %s: %w", integration, groupKey, err)
	}
	return e, nil
}

// RecordNotification implements alert.NotificationLog.
func (s *Store) RecordNotification(ctx context.Context, e alert.NotificationEntry) error {
	firing, err := json.Marshal(nonNil(e.FiringAlerts))
	if err != nil {
		return fmt.Errorf("sqlite store: record notification %s %s: %w", e.Integration, e.GroupKey, err)
	}
	resolved, err := json.Marshal(nonNil(e.ResolvedAlerts))
	if err != nil {
		return fmt.Errorf("sqlite store: record notification %s %s: %w", e.Integration, e.GroupKey, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO alert_notifications
		(integration, group_key, alert_set_hash, firing_alerts, resolved_alerts, sent_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (integration, group_key) DO UPDATE SET alert_set_hash = excluded.alert_set_hash,
			firing_alerts = excluded.firing_alerts, resolved_alerts = excluded.resolved_alerts,
			sent_at = excluded.sent_at, expires_at = excluded.expires_at`,
		e.Integration, e.GroupKey, e.AlertSetHash, string(firing), string(resolved), fmtTime(e.SentAt), fmtTime(e.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite store: record notification %s %s: %w", e.Integration, e.GroupKey, err)
	}
	return nil
}

// PruneNotifications implements alert.NotificationLog.
func (s *Store) PruneNotifications(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM alert_notifications WHERE expires_at < ?`, fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite store: prune notification log: %w", err)
	}
	return affected(res)
}

func affected(res sql.Result) (int, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite store: rows affected: %w", err)
	}
	return int(n), nil
}

// nonNil returns s, or an empty slice for nil, so that it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
