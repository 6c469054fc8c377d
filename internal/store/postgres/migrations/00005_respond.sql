-- Response: CrowdSec-compatible decisions (IP/range bans served to
-- bouncers), registered bouncers with their stream cursors, and reversible
-- response actions with their audit trail.
--
-- Decision IDs come from crowdsec_decision_seq, a one-row counter bumped in
-- the same transaction that inserts the decision, not from a sequence: a
-- sequence hands out IDs before commit, so ID 5 could become visible before
-- ID 4 and a stream bouncer whose cursor passed 5 would never get 4. The
-- counter's row lock serialises adders until commit, and LastID reads the
-- committed counter, so every ID it reports is already visible (the rule of
-- crowdsec.Store). Text keys are COLLATE "C" so ordering matches SQLite.

-- +goose Up
CREATE TABLE crowdsec_decision_seq (
    one     integer PRIMARY KEY CHECK (one = 1),
    last_id bigint NOT NULL
);
INSERT INTO crowdsec_decision_seq (one, last_id) VALUES (1, 0);

CREATE TABLE crowdsec_decisions (
    id         bigint PRIMARY KEY,
    uuid       text NOT NULL UNIQUE,
    origin     text NOT NULL,
    type       text NOT NULL,
    scope      text NOT NULL,
    value      text NOT NULL,
    scenario   text NOT NULL,
    simulated  boolean NOT NULL,
    created_at timestamptz NOT NULL,
    until      timestamptz NOT NULL
);
CREATE INDEX crowdsec_decisions_until_idx ON crowdsec_decisions (until);

CREATE TABLE crowdsec_bouncers (
    name       text COLLATE "C" PRIMARY KEY,
    key_hash   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    last_pull  timestamptz,
    last_id    bigint NOT NULL DEFAULT 0
);

CREATE TABLE response_actions (
    id               text COLLATE "C" PRIMARY KEY,
    kind             text NOT NULL,
    target_kind      text NOT NULL,
    target_namespace text NOT NULL,
    target_name      text NOT NULL,
    params           text NOT NULL,
    ttl_ns           bigint NOT NULL,
    dry_run          boolean NOT NULL,
    actor            text NOT NULL,
    reason           text NOT NULL,
    state            text NOT NULL,
    message          text NOT NULL,
    undo             bytea,
    created_at       timestamptz NOT NULL,
    applied_at       timestamptz,
    expires_at       timestamptz,
    ended_at         timestamptz,
    version          bigint NOT NULL
);
CREATE INDEX response_actions_state_idx ON response_actions (state, created_at);
CREATE INDEX response_actions_created_idx ON response_actions (created_at, id);
-- One live action per kind and target, even with several kubeward
-- processes on one database (respond.Store.Create returns ErrBusy).
CREATE UNIQUE INDEX response_actions_live_idx ON response_actions (kind, target_kind, target_namespace, target_name)
    WHERE state IN ('pending', 'applied', 'reverting') AND NOT dry_run;

CREATE TABLE response_events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id  text COLLATE "C" NOT NULL,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    message    text NOT NULL
);
CREATE INDEX response_events_action_idx ON response_events (action_id, seq);

-- +goose Down
DROP TABLE response_events;
DROP TABLE response_actions;
DROP TABLE crowdsec_bouncers;
DROP TABLE crowdsec_decisions;
DROP TABLE crowdsec_decision_seq;
