-- Alert queries (alert.AlertStore.QueryAlerts): GET /api/v1/alerts lists
-- alerts most recently started first, ties by fingerprint, one page at a
-- time. Same logical schema as the PostgreSQL migration of the same number.
--
-- version is a random number that every write of a row replaces: a reader
-- that keeps decoded alerts knows one is still right while its version is
-- the stored one. Rows written before this migration share version 0 until
-- they are written again, which is right too: each is its own fingerprint.
--
-- alerts_order_idx is the listing order, with the version: an unfiltered
-- page reads LIMIT entries of it (no sort, no table row) and the count
-- reads the index alone. The other indexes serve the common filters
-- (severity=, the alertname and namespace label matchers) in the same
-- order. The namespace index is on an expression of the labels' JSON; it
-- has no PostgreSQL twin, where json operators refuse the \u0000 that a
-- label value may hold.

-- +goose Up
ALTER TABLE alerts ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX alerts_order_idx ON alerts (starts_at DESC, fingerprint, version);
CREATE INDEX alerts_severity_order_idx ON alerts (severity, starts_at DESC, fingerprint, version);
CREATE INDEX alerts_alertname_order_idx ON alerts (alertname, starts_at DESC, fingerprint, version);
CREATE INDEX alerts_namespace_order_idx ON alerts (json_extract(labels, '$.namespace'), starts_at DESC, fingerprint, version);

-- +goose Down
DROP INDEX alerts_namespace_order_idx;
DROP INDEX alerts_alertname_order_idx;
DROP INDEX alerts_severity_order_idx;
DROP INDEX alerts_order_idx;
ALTER TABLE alerts DROP COLUMN version;
