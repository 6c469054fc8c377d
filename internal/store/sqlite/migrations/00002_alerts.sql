-- Alert pipeline state (alert.Storage): the latest version of every alert,
-- silences and the notification log. Same logical schema as the PostgreSQL
-- migration of the same number. Times are TEXT in the fixed-width UTC form of
-- 00001 (NULL for the zero time); label sets, annotations, matchers and
-- fingerprint lists are JSON text.
--
-- The pipeline reads alerts by fingerprint (primary key, also the order of
-- ListAlerts) and deletes resolved alerts, expired silences and expired
-- notification log entries by time: each of those deletes has an index, so
-- pruning stays cheap however large the tables grow.

-- +goose Up
CREATE TABLE alerts (
    -- 16 lower-case hex digits: text order is unsigned integer order.
    fingerprint   TEXT PRIMARY KEY,
    alertname     TEXT NOT NULL,
    severity      TEXT NOT NULL,
    source        TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT,
    starts_at     TEXT NOT NULL,
    -- NULL while the alert fires without a known end.
    ends_at       TEXT,
    updated_at    TEXT,
    generator_id  TEXT NOT NULL DEFAULT '',
    generator_url TEXT NOT NULL DEFAULT '',
    ack_by        TEXT,
    ack_comment   TEXT,
    ack_at        TEXT
);
-- DeleteAlertsResolvedBefore: only alerts with an end are candidates.
CREATE INDEX alerts_ends_at_idx ON alerts (ends_at) WHERE ends_at IS NOT NULL;

CREATE TABLE alert_silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    comment    TEXT NOT NULL DEFAULT '',
    updated_at TEXT
);
-- ListSilences order and DeleteSilencesEndedBefore.
CREATE INDEX alert_silences_starts_idx ON alert_silences (starts_at, id);
CREATE INDEX alert_silences_ends_idx ON alert_silences (ends_at);

CREATE TABLE alert_notifications (
    integration     TEXT NOT NULL,
    group_key       TEXT NOT NULL,
    alert_set_hash  TEXT NOT NULL,
    firing_alerts   TEXT NOT NULL DEFAULT '[]',
    resolved_alerts TEXT NOT NULL DEFAULT '[]',
    sent_at         TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    PRIMARY KEY (integration, group_key)
);
-- PruneNotifications.
CREATE INDEX alert_notifications_expires_idx ON alert_notifications (expires_at);

-- +goose Down
DROP TABLE alert_notifications;
DROP TABLE alert_silences;
DROP TABLE alerts;
