-- Events: the detection engine's detections (Falco json_output alerts)
-- kept for GET /api/v1/events. The filterable members are columns; raw is
-- the alert as received, from which events are read back. priority is the
-- Falco priority's rank (0 emergency … 7 debug), so "at least warning" is
-- priority <= 4. Times are UTC text with microseconds, so they order as
-- strings. Rows are deleted by the retention prune (time index).

-- +goose Up
CREATE TABLE events (
    id        TEXT PRIMARY KEY,
    time      TEXT NOT NULL,
    rule      TEXT NOT NULL,
    priority  INTEGER NOT NULL,
    source    TEXT NOT NULL,
    hostname  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    pod       TEXT NOT NULL,
    output    TEXT NOT NULL,
    raw       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_time_idx ON events (time, id);
CREATE INDEX events_rule_idx ON events (rule, time);
CREATE INDEX events_priority_idx ON events (priority, time);
CREATE INDEX events_source_idx ON events (source, time);
CREATE INDEX events_namespace_idx ON events (namespace, pod, time);

-- +goose Down
DROP TABLE events;
