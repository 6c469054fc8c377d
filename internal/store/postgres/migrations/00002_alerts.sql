-- Alert pipeline state (alert.Storage): the latest version of every alert,
-- silences and the notification log. Same logical schema as the SQLite
-- migration of the same number. Times are timestamptz (NULL for the zero
-- time); label sets, annotations, matchers and fingerprint lists are json
-- (not jsonb: json keeps any string, \u0000 included, as it was written).
--
-- The pipeline reads alerts by fingerprint (primary key, also the order of
-- ListAlerts) and deletes resolved alerts, expired silences and expired
-- notification log entries by time: each of those deletes has an index, so
-- pruning stays cheap however large the tables grow.

-- +goose Up
CREATE TABLE alerts (
    -- 16 lower-case hex digits; byte order (COLLATE "C") is unsigned
    -- integer order, whatever the database's locale.
    fingerprint   text COLLATE "C" PRIMARY KEY,
    alertname     text NOT NULL,
    severity      text NOT NULL,
    source        text NOT NULL,
    labels        json NOT NULL,
    annotations   json,
    starts_at     timestamptz NOT NULL,
    -- NULL while the alert fires without a known end.
    ends_at       timestamptz,
    updated_at    timestamptz,
    generator_id  text NOT NULL DEFAULT '',
    generator_url text NOT NULL DEFAULT '',
    ack_by        text,
    ack_comment   text,
    ack_at        timestamptz
);
-- DeleteAlertsResolvedBefore: only alerts with an end are candidates.
CREATE INDEX alerts_ends_at_idx ON alerts (ends_at) WHERE ends_at IS NOT NULL;

CREATE TABLE alert_silences (
    id         text COLLATE "C" PRIMARY KEY,
    matchers   json NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_by text NOT NULL DEFAULT '',
    comment    text NOT NULL DEFAULT '',
    updated_at timestamptz
);
-- ListSilences order and DeleteSilencesEndedBefore.
CREATE INDEX alert_silences_starts_idx ON alert_silences (starts_at, id);
CREATE INDEX alert_silences_ends_idx ON alert_silences (ends_at);

CREATE TABLE alert_notifications (
    integration     text NOT NULL,
    group_key       text NOT NULL,
    alert_set_hash  text NOT NULL,
    firing_alerts   json NOT NULL DEFAULT '[]',
    resolved_alerts json NOT NULL DEFAULT '[]',
    sent_at         timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (integration, group_key)
);
-- PruneNotifications.
CREATE INDEX alert_notifications_expires_idx ON alert_notifications (expires_at);

-- +goose Down
DROP TABLE alert_notifications;
DROP TABLE alert_silences;
DROP TABLE alerts;
