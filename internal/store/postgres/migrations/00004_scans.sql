-- Scans: vulnerability scans requested through the API (package
-- internal/scan/job). A scan row carries its state (queued, running, done,
-- failed), target, requester, timestamps, failure reason and the summary
-- of its report (JSON text: package and finding counts, findings by
-- severity); published says every finding went out on the scan.findings
-- topic. Packages and findings are kept as the scanner's JSON (text, read
-- back as written), one row each, in report order (seq); severity is the
-- finding's scan.Level (0 unknown … 5 critical) so "most severe first" and
-- "at least HIGH" use the index.

-- +goose Up
CREATE TABLE scans (
    id           text PRIMARY KEY,
    state        text NOT NULL,
    kind         text NOT NULL,
    target       text NOT NULL,
    requested_by text NOT NULL,
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    error        text NOT NULL DEFAULT '',
    summary      text NOT NULL DEFAULT '{}',
    published    boolean NOT NULL DEFAULT false
);
CREATE INDEX scans_created_idx ON scans (created_at, id);
CREATE INDEX scans_state_idx ON scans (state, created_at);
CREATE INDEX scans_target_idx ON scans (target, created_at);

CREATE TABLE scan_packages (
    scan_id text NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    data    text NOT NULL,
    PRIMARY KEY (scan_id, seq)
);

CREATE TABLE scan_findings (
    scan_id     text NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    severity    smallint NOT NULL,
    advisory_id text NOT NULL,
    package     text NOT NULL,
    data        text NOT NULL,
    PRIMARY KEY (scan_id, seq)
);
CREATE INDEX scan_findings_severity_idx ON scan_findings (scan_id, severity, seq);

-- +goose Down
DROP TABLE scan_findings;
DROP TABLE scan_packages;
DROP TABLE scans;
