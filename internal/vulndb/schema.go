package vulndb

// SchemaVersion is the version of the database layout; Open refuses other
// versions so that an old binary never misreads a newer file.
const SchemaVersion = "1"

const schema = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE sources (
	kind     TEXT NOT NULL,
	location TEXT NOT NULL,
	sha256   TEXT NOT NULL,
	records  INTEGER NOT NULL,
	rejected INTEGER NOT NULL
);
CREATE TABLE advisories (
	id        TEXT PRIMARY KEY,
	source    TEXT NOT NULL,
	modified  TEXT NOT NULL,
	withdrawn TEXT NOT NULL,
	summary   TEXT NOT NULL,
	severity  TEXT NOT NULL, -- JSON: []Severity of the record
	dbsev     TEXT NOT NULL, -- database_specific.severity, if any
	aliases   TEXT NOT NULL, -- JSON: []string
	record    BLOB NOT NULL  -- the full OSV record as JSON
);
CREATE TABLE aliases (
	id    TEXT NOT NULL,
	alias TEXT NOT NULL,
	PRIMARY KEY (id, alias)
) WITHOUT ROWID;
CREATE INDEX aliases_alias ON aliases (alias);
CREATE TABLE affected (
	advisory_id TEXT NOT NULL,
	ecosystem   TEXT NOT NULL,
	name        TEXT NOT NULL, -- normalised with NormalizeName
	data        BLOB NOT NULL  -- JSON: Affected
);
`

// indexes are created after the bulk insert, which is faster than
// maintaining them row by row.
const indexes = `CREATE INDEX affected_pkg ON affected (ecosystem, name);`
