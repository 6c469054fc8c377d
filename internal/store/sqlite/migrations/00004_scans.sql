-- Scans: vulnerability scans requested through the API (package
-- internal/scan/job). A scan row carries its state (queued, running, done,
-- failed), target, requester, timestamps, failure reason and the summary
-- of its report (JSON: package and finding counts, findings by severity);
-- published says every finding went out on the scan.findings topic.
-- Packages and findings are kept as the scanner's JSON, one row each, in
-- report order (seq); severity is the finding's scan.Level (0 unknown …
-- 5 critical) so "most severe first" and "at least HIGH" use the index.
-- Times are UTC text with microseconds, so they order as strings.

-- +goose Up
CREATE TABLE scans (
    id           TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    target       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    error        TEXT NOT NULL DEFAULT '',
    summary      TEXT NOT NULL DEFAULT '{}',
    published    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX scans_created_idx ON scans (created_at, id);
CREATE INDEX scans_state_idx ON scans (state, created_at);
CREATE INDEX scans_target_idx ON scans (target, created_at);

CREATE TABLE scan_packages (
    scan_id TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (scan_id, seq)
) WITHOUT ROWID;

CREATE TABLE scan_findings (
    scan_id     TEXT NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    severity    INTEGER NOT NULL,
    advisory_id TEXT NOT NULL,
    package     TEXT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (scan_id, seq)
) WITHOUT ROWID;
CREATE INDEX scan_findings_severity_idx ON scan_findings (scan_id, severity, seq);

-- +goose Down
DROP TABLE scan_findings;
DROP TABLE scan_packages;
DROP TABLE scans;
