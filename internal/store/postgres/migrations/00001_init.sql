-- kubeward store schema, PostgreSQL. Times are timestamptz; raw JSON is kept
-- byte for byte as bytea (convert_from(raw, 'UTF8')::jsonb to query it).
--
-- The child tables (cve_*) have no foreign keys to cves: only the store
-- writes them, always in the transaction that writes the parent row, and a
-- foreign key check per child row (about 40 per record) would cost the bulk
-- upsert more than anything else but the text search vector. Records are
-- never deleted (REJECTED is a state), so nothing could cascade either.

-- +goose Up
CREATE TABLE cves (
    -- Byte order (COLLATE "C") whatever the database's locale, so ID order
    -- is the same on both backends and the primary key serves ORDER BY id.
    id               text COLLATE "C" PRIMARY KEY,
    state            text NOT NULL,
    data_version     text NOT NULL DEFAULT '',
    assigner         text NOT NULL DEFAULT '',
    date_reserved    timestamptz,
    date_published   timestamptz,
    date_updated     timestamptz,
    date_rejected    timestamptz,
    date_updated_raw text NOT NULL DEFAULT '',
    published        timestamptz,
    title            text NOT NULL DEFAULT '',
    description      text NOT NULL DEFAULT '',
    severity         text NOT NULL DEFAULT '',
    score            double precision NOT NULL DEFAULT 0,
    kev              boolean NOT NULL DEFAULT false,
    raw              bytea,
    -- Maintained by the writer from store.Index: ID (weight A), title (B),
    -- all descriptions (C).
    search           tsvector NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cves_search_idx ON cves USING gin (search);

-- Raw JSON compresses well; lz4 costs a fraction of the default pglz's CPU
-- on the hot upsert path. Servers built without lz4 keep the default.
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE cves ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 compression unavailable, raw JSON uses the default: %', SQLERRM;
END
$$;
-- +goose StatementEnd
CREATE INDEX cves_published_idx ON cves (date_published DESC NULLS LAST, id);
-- Few records are REJECTED; PUBLISHED is most of the table and not worth an
-- index. Severity (five values) is filtered, not looked up, by the planner.
CREATE INDEX cves_rejected_idx ON cves (id) WHERE state <> 'PUBLISHED';
CREATE INDEX cves_kev_idx ON cves (id) WHERE kev;

CREATE TABLE cve_descriptions (
    cve_id text COLLATE "C" NOT NULL,
    ord    integer NOT NULL,
    lang   text NOT NULL DEFAULT '',
    value  text NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);

CREATE TABLE cve_problems (
    cve_id      text COLLATE "C" NOT NULL,
    ord         integer NOT NULL,
    cwe_id      text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    type        text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);
CREATE INDEX cve_problems_cwe_idx ON cve_problems (cwe_id, cve_id) WHERE cwe_id <> '';

CREATE TABLE cve_metrics (
    cve_id         text COLLATE "C" NOT NULL,
    ord            integer NOT NULL,
    source         text NOT NULL DEFAULT '',
    format         text NOT NULL DEFAULT '',
    version        text NOT NULL DEFAULT '',
    vector         text NOT NULL DEFAULT '',
    base_score     double precision NOT NULL DEFAULT 0,
    reported_score double precision NOT NULL DEFAULT 0,
    severity       text NOT NULL DEFAULT '',
    error          text NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);

CREATE TABLE cve_references (
    cve_id text COLLATE "C" NOT NULL,
    ord    integer NOT NULL,
    url    text NOT NULL DEFAULT '',
    name   text NOT NULL DEFAULT '',
    tags   text[] NOT NULL DEFAULT '{}',
    source text NOT NULL DEFAULT '',
    PRIMARY KEY (cve_id, ord)
);

CREATE TABLE cve_affected (
    cve_id         text COLLATE "C" NOT NULL,
    ord            integer NOT NULL,
    source         text NOT NULL DEFAULT '',
    vendor         text NOT NULL DEFAULT '',
    product        text NOT NULL DEFAULT '',
    package_name   text NOT NULL DEFAULT '',
    collection_url text NOT NULL DEFAULT '',
    default_status text NOT NULL DEFAULT '',
    -- JSON array of cve.Version.
    versions       json NOT NULL DEFAULT '[]',
    cpes           text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (cve_id, ord)
);
CREATE INDEX cve_affected_product_idx ON cve_affected (lower(vendor), lower(product));
CREATE INDEX cve_affected_package_idx ON cve_affected (package_name) WHERE package_name <> '';

CREATE TABLE cve_ssvc (
    cve_id           text COLLATE "C" PRIMARY KEY,
    exploitation     text NOT NULL DEFAULT '',
    automatable      text NOT NULL DEFAULT '',
    technical_impact text NOT NULL DEFAULT '',
    role             text NOT NULL DEFAULT '',
    version          text NOT NULL DEFAULT '',
    timestamp        timestamptz
);

CREATE TABLE cve_kev_adp (
    cve_id     text COLLATE "C" PRIMARY KEY,
    date_added timestamptz,
    reference  text NOT NULL DEFAULT ''
);

-- The CISA KEV catalog, replaced as a whole on each import. Not tied to cves:
-- the catalog may list IDs not (yet) stored.
CREATE TABLE kev_catalog (
    cve_id             text COLLATE "C" PRIMARY KEY,
    catalog_version    text NOT NULL DEFAULT '',
    vendor_project     text NOT NULL DEFAULT '',
    product            text NOT NULL DEFAULT '',
    vulnerability_name text NOT NULL DEFAULT '',
    date_added         timestamptz,
    short_description  text NOT NULL DEFAULT '',
    required_action    text NOT NULL DEFAULT '',
    due_date           timestamptz,
    known_ransomware   text NOT NULL DEFAULT '',
    notes              text NOT NULL DEFAULT '',
    cwes               text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE epss (
    cve_id        text COLLATE "C" PRIMARY KEY,
    score         double precision NOT NULL,
    percentile    double precision NOT NULL,
    score_date    timestamptz NOT NULL,
    model_version text NOT NULL DEFAULT ''
);

CREATE TABLE kv_state (
    key        text PRIMARY KEY,
    value      bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text NOT NULL DEFAULT '',
    key        text NOT NULL DEFAULT '',
    value      bytea,
    headers    json,
    reason     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
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
DROP TABLE cves;
