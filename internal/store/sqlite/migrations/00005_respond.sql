-- Response: CrowdSec-compatible decisions (IP/range bans served to
-- bouncers), registered bouncers with their stream cursors, and reversible
-- response actions with their audit trail.
--
-- Decision IDs come from crowdsec_decision_seq, a one-row counter bumped in
-- the same transaction that inserts the decision: the counter (LastID) and
-- the row become visible together, IDs are never reused after a prune, and
-- the row lock serialises writers (the LastID visibility rule of
-- crowdsec.Store). Times are UTC text with microseconds, so they order as
-- strings.

-- +goose Up
CREATE TABLE crowdsec_decision_seq (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL
);
INSERT INTO crowdsec_decision_seq (one, last_id) VALUES (1, 0);

CREATE TABLE crowdsec_decisions (
    id         INTEGER PRIMARY KEY,
    uuid       TEXT NOT NULL UNIQUE,
    origin     TEXT NOT NULL,
    type       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    value      TEXT NOT NULL,
    scenario   TEXT NOT NULL,
    simulated  INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    until      TEXT NOT NULL
);
CREATE INDEX crowdsec_decisions_until_idx ON crowdsec_decisions (until);

CREATE TABLE crowdsec_bouncers (
    name       TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_pull  TEXT,
    last_id    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE response_actions (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    target_kind      TEXT NOT NULL,
    target_namespace TEXT NOT NULL,
    target_name      TEXT NOT NULL,
    params           TEXT NOT NULL,
    ttl_ns           INTEGER NOT NULL,
    dry_run          INTEGER NOT NULL,
    actor            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    state            TEXT NOT NULL,
    message          TEXT NOT NULL,
    undo             BLOB,
    created_at       TEXT NOT NULL,
    applied_at       TEXT,
    expires_at       TEXT,
    ended_at         TEXT,
    version          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX response_actions_state_idx ON response_actions (state, created_at);
CREATE INDEX response_actions_created_idx ON response_actions (created_at, id);
-- One live action per kind and target, even with several kubeward
-- processes on one database (respond.Store.Create returns ErrBusy).
CREATE UNIQUE INDEX response_actions_live_idx ON response_actions (kind, target_kind, target_namespace, target_name)
    WHERE state IN ('pending', 'applied', 'reverting') AND dry_run = 0;

CREATE TABLE response_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id  TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    message    TEXT NOT NULL
);
CREATE INDEX response_events_action_idx ON response_events (action_id, seq);

-- +goose Down
DROP TABLE response_events;
DROP TABLE response_actions;
DROP TABLE crowdsec_bouncers;
DROP TABLE crowdsec_decisions;
DROP TABLE crowdsec_decision_seq;
