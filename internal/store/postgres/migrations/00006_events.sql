-- Events: the detection engine's detections (Falco json_output alerts)
-- kept for GET /api/v1/events. The filterable members are columns; raw is
-- the alert as received (text, not jsonb, so it is served byte for byte),
-- from which events are read back. priority is the Falco priority's rank
-- (0 emergency … 7 debug), so "at least warning" is priority <= 4. Rows
-- are deleted by the retention prune (time index).

-- +goose Up
CREATE TABLE events (
    id        text PRIMARY KEY,
    time      timestamptz NOT NULL,
    rule      text NOT NULL,
    priority  smallint NOT NULL,
    source    text NOT NULL,
    hostname  text NOT NULL,
    namespace text NOT NULL,
    pod       text NOT NULL,
    output    text NOT NULL,
    raw       text NOT NULL
);
CREATE INDEX events_time_idx ON events (time, id);
CREATE INDEX events_rule_idx ON events (rule, time);
CREATE INDEX events_priority_idx ON events (priority, time);
CREATE INDEX events_source_idx ON events (source, time);
CREATE INDEX events_namespace_idx ON events (namespace, pod, time);

-- +goose Down
DROP TABLE events;
