-- Authentication: local users, API tokens (SHA-256 of the secret only),
-- the JWT deny-list, signing keys and the audit log. Roles are stored by
-- name (viewer, operator, admin). Text keys are COLLATE "C" so ordering is
-- the same as on SQLite.

-- +goose Up
CREATE TABLE users (
    name          text COLLATE "C" PRIMARY KEY,
    role          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    owner      text COLLATE "C" NOT NULL,
    role       text NOT NULL,
    hash       bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX api_tokens_owner_idx ON api_tokens (owner, created_at);

CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

CREATE TABLE signing_keys (
    name       text PRIMARY KEY,
    secret     bytea NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time   timestamptz NOT NULL,
    actor  text COLLATE "C" NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    status integer NOT NULL,
    source text NOT NULL
);
CREATE INDEX audit_log_time_idx ON audit_log (time DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, time DESC, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE signing_keys;
DROP TABLE revoked_tokens;
DROP TABLE api_tokens;
DROP TABLE users;
