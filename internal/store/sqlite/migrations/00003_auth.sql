-- Authentication: local users, API tokens (SHA-256 of the secret only),
-- the JWT deny-list, signing keys and the audit log. Roles are stored by
-- name (viewer, operator, admin).

-- +goose Up
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT
) WITHOUT ROWID;
CREATE INDEX api_tokens_owner_idx ON api_tokens (owner, created_at);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

CREATE TABLE signing_keys (
    name       TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    time   TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    status INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX audit_log_time_idx ON audit_log (time DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, time DESC, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE signing_keys;
DROP TABLE revoked_tokens;
DROP TABLE api_tokens;
DROP TABLE users;
