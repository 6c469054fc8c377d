package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kubeward/kubeward/internal/alert"
)

// The alert pipeline's state (alert.Storage) lives in the tables of
// migration 00002_alerts.sql. Text columns cannot hold NUL bytes, so text
// values (and keys, identically on write and on lookup) pass through text;
// label sets, annotations and matchers are json and keep every string.
var _ alert.Storage = (*Store)(nil)

const alertColumns = `fingerprint, alertname, severity, source, labels, annotations, starts_at, ends_at,
	updated_at, generator_id, generator_url, ack_by, ack_comment, ack_at`

// upsertAlert writes an alert; each row written gets a new random version
// (migration 00007), which tells readers that keep decoded alerts that
// theirs is out of date.
const upsertAlert = `INSERT INTO alerts (` + alertColumns + `, version)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
	ON CONFLICT (fingerprint) DO UPDATE SET version = excluded.version,
		alertname = excluded.alertname, severity = excluded.severity,
		source = excluded.source, labels = excluded.labels, annotations = excluded.annotations,
		starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = excluded.updated_at,
		generator_id = excluded.generator_id, generator_url = excluded.generator_url,
		ack_by = excluded.ack_by, ack_comment = excluded.ack_comment, ack_at = excluded.ack_at`

// PutAlerts implements alert.AlertStore: it upserts alerts in one
// transaction, in order, so a later alert with the same fingerprint wins.
func (s *Store) PutAlerts(ctx context.Context, alerts []alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for i := range alerts {
		a := &alerts[i]
		labels, err := json.Marshal(a.Labels)
		if err != nil {
			return fmt.Errorf("postgres store: put alert %s: encode labels: %w", a.Fingerprint(), err)
		}
		var annotations []byte // nil, stored as NULL, when empty
		if len(a.Annotations) > 0 {
			if annotations, err = json.Marshal(a.Annotations); err != nil {
				return fmt.Errorf("postgres store: put alert %s: encode annotations: %w", a.Fingerprint(), err)
			}
		}
		var ackBy, ackComment pgtype.Text
		var ackAt pgtype.Timestamptz
		if a.Ack != nil {
			ackBy = pgtype.Text{String: text(a.Ack.By), Valid: true}
			ackComment = pgtype.Text{String: text(a.Ack.Comment), Valid: true}
			ackAt = ts(a.Ack.At)
		}
		b.Queue(upsertAlert, a.Fingerprint().String(), text(a.Name()), text(string(a.Severity)), text(string(a.Source)),
			labels, annotations, ts(a.StartsAt), ts(a.EndsAt), ts(a.UpdatedAt),
			text(a.GeneratorID), text(a.GeneratorURL), ackBy, ackComment, ackAt, rand.Int64())
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: put %d alerts: %w", len(alerts), err)
	}
	defer rollback(ctx, tx)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres store: put %d alerts: %w", len(alerts), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: put %d alerts: commit: %w", len(alerts), err)
	}
	return nil
}

// GetAlert implements alert.AlertStore.
func (s *Store) GetAlert(ctx context.Context, fp alert.Fingerprint) (alert.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE fingerprint = $1`, fp.String())
	if err != nil {
		return alert.Alert{}, fmt.Errorf("postgres store: get alert %s: %w", fp, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAlert)
	if errors.Is(err, pgx.ErrNoRows) {
		return alert.Alert{}, fmt.Errorf("alert %s: %w", fp, alert.ErrNotFound)
	}
	if err != nil {
		return alert.Alert{}, fmt.Errorf("postgres store: get alert %s: %w", fp, err)
	}
	return a, nil
}

// ListAlerts implements alert.AlertStore: every alert, by fingerprint.
func (s *Store) ListAlerts(ctx context.Context) ([]alert.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts ORDER BY fingerprint`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list alerts: %w", err)
	}
	return nilIfEmpty(out), nil
}

// DeleteAlertsResolvedBefore implements alert.AlertStore.
func (s *Store) DeleteAlertsResolvedBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alerts WHERE ends_at IS NOT NULL AND ends_at < $1`, ts(t))
	if err != nil {
		return 0, fmt.Errorf("postgres store: delete alerts resolved before %s: %w", t.Format(time.RFC3339), err)
	}
	return int(tag.RowsAffected()), nil
}

func scanAlert(row pgx.CollectableRow) (alert.Alert, error) {
	var (
		a                          alert.Alert
		fp, name, severity, source string
		labels                     []byte
		annotations                []byte
		starts, ends, updated      pgtype.Timestamptz
		ackBy, ackComment          pgtype.Text
		ackAt                      pgtype.Timestamptz
	)
	if err := row.Scan(&fp, &name, &severity, &source, &labels, &annotations, &starts, &ends, &updated,
		&a.GeneratorID, &a.GeneratorURL, &ackBy, &ackComment, &ackAt); err != nil {
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
	a.StartsAt, a.EndsAt, a.UpdatedAt = fromTS(starts), fromTS(ends), fromTS(updated)
	if ackBy.Valid {
		a.Ack = &alert.Ack{By: ackBy.String, Comment: ackComment.String, At: fromTS(ackAt)}
	}
	return a, nil
}

const silenceColumns = `id, matchers, starts_at, ends_at, created_by, comment, updated_at`

// PutSilence implements alert.SilenceStore.
func (s *Store) PutSilence(ctx context.Context, sil alert.Silence) error {
	enc, err := json.Marshal(emptyIfNil(sil.Matchers))
	if err != nil {
		return fmt.Errorf("postgres store: put silence %q: encode matchers: %w", sil.ID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO alert_silences (`+silenceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
			ends_at = excluded.ends_at, created_by = excluded.created_by, comment = excluded.comment,
			updated_at = excluded.updated_at`,
		text(sil.ID), enc, ts(sil.StartsAt), ts(sil.EndsAt), text(sil.CreatedBy), text(sil.Comment), ts(sil.UpdatedAt))
	if err != nil {
		return fmt.Errorf("postgres store: put silence %q: %w", sil.ID, err)
	}
	return nil
}

// GetSilence implements alert.SilenceStore.
func (s *Store) GetSilence(ctx context.Context, id string) (alert.Silence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+silenceColumns+` FROM alert_silences WHERE id = $1`, text(id))
	if err != nil {
		return alert.Silence{}, fmt.Errorf("postgres store: get silence %q: %w", id, err)
	}
	sil, err := pgx.CollectExactlyOneRow(rows, scanSilence)
	if errors.Is(err, pgx.ErrNoRows) {
		return alert.Silence{}, fmt.Errorf("silence %q: %w", id, alert.ErrNotFound)
	}
	if err != nil {
		return alert.Silence{}, fmt.Errorf("postgres store: get silence %q: %w", id, err)
	}
	return sil, nil
}

// ListSilences implements alert.SilenceStore: every silence, by StartsAt
// then ID.
func (s *Store) ListSilences(ctx context.Context) ([]alert.Silence, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+silenceColumns+` FROM alert_silences ORDER BY starts_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list silences: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSilence)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list silences: %w", err)
	}
	return nilIfEmpty(out), nil
}

// DeleteSilencesEndedBefore implements alert.SilenceStore.
func (s *Store) DeleteSilencesEndedBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alert_silences WHERE ends_at < $1`, ts(t))
	if err != nil {
		return 0, fmt.Errorf("postgres store: delete silences ended before %s: %w", t.Format(time.RFC3339), err)
	}
	return int(tag.RowsAffected()), nil
}

func scanSilence(row pgx.CollectableRow) (alert.Silence, error) {
	var (
		sil                   alert.Silence
		matchers              []byte
		starts, ends, updated pgtype.Timestamptz
	)
	if err := row.Scan(&sil.ID, &matchers, &starts, &ends, &sil.CreatedBy, &sil.Comment, &updated); err != nil {
		return alert.Silence{}, err
	}
	if err := json.Unmarshal(matchers, &sil.Matchers); err != nil {
		return alert.Silence{}, fmt.Errorf("silence %q: stored matchers: %w", sil.ID, err)
	}
	sil.StartsAt, sil.EndsAt, sil.UpdatedAt = fromTS(starts), fromTS(ends), fromTS(updated)
	return sil, nil
}

// LastNotification implements alert.NotificationLog.
func (s *Store) LastNotification(ctx context.Context, integration, groupKey string) (alert.NotificationEntry, error) {
	e := alert.NotificationEntry{Integration: integration, GroupKey: groupKey}
	var firing, resolved []byte
	var sent, expires pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT alert_set_hash, firing_alerts, resolved_alerts, sent_at, expires_at
		FROM alert_notifications WHERE integration = $1 AND group_key = $2`, text(integration), text(groupKey)).
		Scan(&e.AlertSetHash, &firing, &resolved, &sent, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return alert.NotificationEntry{}, fmt.Errorf("notification log entry %s %s: %w", integration, groupKey, alert.ErrNotFound)
	}
	if err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("postgres store: notification log entry %s %s: %w", integration, groupKey, err)
	}
	if err := json.Unmarshal(firing, &e.FiringAlerts); err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("postgres store: notification log entry %s %s: stored firing alerts: %w", integration, groupKey, err)
	}
	if err := json.Unmarshal(resolved, &e.ResolvedAlerts); err != nil {
		return alert.NotificationEntry{}, fmt.Errorf("postgres store: notification log entry %s %s: stored resolved alerts: %w", integration, groupKey, err)
	}
	e.SentAt, e.ExpiresAt = fromTS(sent), fromTS(expires)
	return e, nil
}

// RecordNotification implements alert.NotificationLog.
func (s *Store) RecordNotification(ctx context.Context, e alert.NotificationEntry) error {
	firing, err := json.Marshal(emptyIfNil(e.FiringAlerts))
	if err != nil {
		return fmt.Errorf("postgres store: record notification %s %s: %w", e.Integration, e.GroupKey, err)
	}
	resolved, err := json.Marshal(emptyIfNil(e.ResolvedAlerts))
	if err != nil {
		return fmt.Errorf("postgres store: record notification %s %s: %w", e.Integration, e.GroupKey, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO alert_notifications
		(integration, group_key, alert_set_hash, firing_alerts, resolved_alerts, sent_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (integration, group_key) DO UPDATE SET alert_set_hash = excluded.alert_set_hash,
			firing_alerts = excluded.firing_alerts, resolved_alerts = excluded.resolved_alerts,
			sent_at = excluded.sent_at, expires_at = excluded.expires_at`,
		text(e.Integration), text(e.GroupKey), text(e.AlertSetHash), firing, resolved, ts(e.SentAt), ts(e.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres store: record notification %s %s: %w", e.Integration, e.GroupKey, err)
	}
	return nil
}

// emptyIfNil returns s, or an empty slice for nil, so that it encodes as
// [] in a NOT NULL json column.
func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// PruneNotifications implements alert.NotificationLog.
func (s *Store) PruneNotifications(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alert_notifications WHERE expires_at < $1`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("postgres store: prune notification log: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
