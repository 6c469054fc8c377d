-- kubeward store schema, SQLite. Times are TEXT in the fixed-width UTC form
-- 2006-01-02T15:04:05.000000Z, so text order is time order. Lists of strings
-- are JSON arrays. Raw JSON is kept byte for byte as a BLOB. Only tables
-- with small rows are WITHOUT ROWID: large rows (descriptions, references)
-- make a WITHOUT ROWID b-tree slow to rewrite.

-- +goose Up
CREATE TABLE cves (
    -- seq is the rowid the full-text index refers to; it survives VACUUM.
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL,
    data_version     TEXT NOT NULL DEFAULT '',
    assigner         TEXT NOT NULL DEFAULT '',
    date_reserved    TEXT,
    date_published   TEXT,
    date_updated     TEXT,
    date_rejected    TEXT,
    date_updated_raw TEXT NOT NULL DEFAULT '',
    published        TEXT,
    title            TEXT NOT NULL DEFAULT '',
    description      TEXT NOT NULL DEFAULT '',
    severity         TEXT NOT NULL DEFAULT '',
    score            REAL NOT NULL DEFAULT 0,
    kev              INTEGER NOT NULL DEFAULT 0,
    raw              BLOB,
    stored_at        TEXT NOT NULL
);
CREATE INDEX cves_published_idx ON cves (date_published DESC, id);
-- Few records are REJECTED; PUBLISHED is most of the table and not worth an
-- index. Severity (five values) is filtered, not looked up.
CREATE INDEX cves_rejected_idx ON cves (id) WHERE state <> 'PUBLISHED';
CREATE INDEX cves_kev_idx ON cves (id) WHERE kev;

-- Full-text index over ID, title and all descriptions; rowid = cves.seq.
-- Maintained by the writer (contentless: the text lives in cves).
CREATE VIRTUAL TABLE cve_fts USING fts5 (
    id, title, body,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE cve_descriptions (
    cve_id TEXT NOT NULL REFERENCES cves (id) ON DELETE CASCADE,
    ord    INTEGER NOT NULL,
    lang   TEXT NOT NULL DEFAULT '',
    value  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);

CREATE TABLE cve_problems (
    cve_id      TEXT NOT NULL REFERENCES cves (id) ON DELETE CASCADE,
    ord         INTEGER NOT NULL,
    cwe_id      TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);
CREATE INDEX cve_problems_cwe_idx ON cve_problems (cwe_id, cve_id) WHERE cwe_id <> '';

CREATE TABLE cve_metrics (
    cve_id         TEXT NOT NULL REFERENCES cves (id) ON DELETE CASCADE,
    ord            INTEGER NOT NULL,
    source         TEXT NOT NULL DEFAULT '',
    format         TEXT NOT NULL DEFAULT '',
    version        TEXT NOT NULL DEFAULT '',
    vector         TEXT NOT NULL DEFAULT '',
    base_score     REAL NOT NULL DEFAULT 0,
    reported_score REAL NOT NULL DEFAULT 0,
    severity       TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);

CREATE TABLE cve_references (
    cve_id TEXT NOT NULL REFERENCES cves (id) ON DELETE CASCADE,
    ord    INTEGER NOT NULL,
    url    TEXT NOT NULL DEFAULT '',
    name   TEXT NOT NULL DEFAULT '',
    tags   TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);

CREATE TABLE cve_affected (
    cve_id         TEXT NOT NULL REFERENCES cves (id) ON DELETE CASCADE,
    ord            INTEGER NOT NULL,
    source         TEXT NOT NULL DEFAULT '',
    vendor         TEXT NOT NULL DEFAULT '',
    product        TEXT NOT NULL DEFAULT '',
    package_name   TEXT NOT NULL DEFAULT '',
    collection_url TEXT NOT NULL DEFAULT '',
    default_status TEXT NOT NULL DEFAULT '',
    versions       TEXT NOT NULL DEFAULT '[]',
    cpes           TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (cve_id, ord)
);
CREATE INDEX cve_affected_product_idx ON cve_affected (lower(vendor), lower(product));
CREATE INDEX cve_affected_package_idx ON cve_affected (package_name) WHERE package_name <> '';

CREATE TABLE cve_ssvc (
    cve_id           TEXT PRIMARY KEY REFERENCES cves (id) ON DELETE CASCADE,
    exploitation     TEXT NOT NULL DEFAULT '',
    automatable      TEXT NOT NULL DEFAULT '',
    technical_impact TEXT NOT NULL DEFAULT '',
    role             TEXT NOT NULL DEFAULT '',
    version          TEXT NOT NULL DEFAULT '',
    timestamp        TEXT
) WITHOUT ROWID;

CREATE TABLE cve_kev_adp (
    cve_id     TEXT PRIMARY KEY REFERENCES cves (id) ON DELETE CASCADE,
    date_added TEXT,
    reference  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE kev_catalog (
    cve_id             TEXT PRIMARY KEY,
    catalog_version    TEXT NOT NULL DEFAULT '',
    vendor_project     TEXT NOT NULL DEFAULT '',
    product            TEXT NOT NULL DEFAULT '',
    vulnerability_name TEXT NOT NULL DEFAULT '',
    date_added         TEXT,
    short_description  TEXT NOT NULL DEFAULT '',
    required_action    TEXT NOT NULL DEFAULT '',
    due_date           TEXT,
    known_ransomware   TEXT NOT NULL DEFAULT '',
    notes              TEXT NOT NULL DEFAULT '',
    cwes               TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE epss (
    cve_id        TEXT PRIMARY KEY,
    score         REAL NOT NULL,
    percentile    REAL NOT NULL,
    score_date    TEXT NOT NULL,
    model_version TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE kv_state (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT NOT NULL DEFAULT '',
    key        TEXT NOT NULL DEFAULT '',
    value      BLOB,
    headers    TEXT,
    reason     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at DESC, id DESC);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE kv_state;
DROP TABLE epss;
DROP TABLE kev_catalog;
DROP TABLE cve_kev_adp;
DROP TABLE cve_ssvc;
DROP TABLE cve_affected;
DROP TABLE cve_references;
DROP TABLE cve_metrics;
DROP TABLE cve_problems;
DROP TABLE cve_descriptions;
DROP TABLE cve_fts;
DROP TABLE cves;
