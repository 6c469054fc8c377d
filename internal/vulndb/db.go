package vulndb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	// The v2 decoder reads the stored entries (written by encoding/json
	// with the same struct tags) about three times faster; the PyPA
	// entries carry hundreds of listed versions each.
	json "github.com/go-json-experiment/json"
)

// DB is a read-only handle on a database written by Build. It is safe for
// concurrent use.
type DB struct {
	sql      *sql.DB
	lookup   *sql.Stmt
	reverse  *sql.Stmt
	manifest Manifest
}

// Candidate is one affected entry of a non-withdrawn advisory that names
// the package looked up; whether the installed version is affected is for
// the matcher to decide.
type Candidate struct {
	// AdvisoryID is the record's ID (GO-…, PYSEC-…, ALPINE-CVE-…).
	AdvisoryID string
	// Aliases are the record's own aliases; DB.Aliases adds the records
	// that name this one.
	Aliases []string
	// Summary is the record's one-line summary, if any.
	Summary string
	// Severity holds the record's OSV severity entries (CVSS vectors).
	Severity []Severity
	// DatabaseSeverity is database_specific.severity (GHSA style labels
	// such as "HIGH"), if the record has one.
	DatabaseSeverity string
	// Affected is the entry that names the package.
	Affected Affected
}

// Open opens a database built by Build for reading.
func Open(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open vulnerability database: %w (build one with `kubeward db build`)", err)
	}
	// immutable=1: the file never changes under a reader, because every
	// writer (Build, Import, Update) replaces it by renaming a new file
	// over it; SQLite then takes no file locks (an fcntl per statement
	// otherwise). mmap_size lets page reads be memory reads.
	dsn := (&url.URL{Scheme: "file", Opaque: path, RawQuery: "mode=ro&immutable=1&_pragma=query_only(1)&_pragma=mmap_size(268435456)"}).String()
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database %s: %w", path, err)
	}
	db := &DB{sql: sdb}
	if err := db.init(ctx); err != nil {
		_ = sdb.Close() // read-only handle; the init error is what matters
		return nil, fmt.Errorf("open vulnerability database %s: %w", path, err)
	}
	return db, nil
}

func (db *DB) init(ctx context.Context) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return fmt.Errorf("not a kubeward vulnerability database (rebuild it with `kubeward db build`): %w", err)
	}
	meta := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			_ = rows.Close() // read-only query; the Scan error is what matters
			return err
		}
		meta[k] = v
	}
	closeErr := rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if closeErr != nil {
		return fmt.Errorf("read manifest: %w", closeErr)
	}
	if meta["schema_version"] != SchemaVersion {
		return fmt.Errorf("schema version %q, this kubeward reads %q: rebuild it with `kubeward db build`", meta["schema_version"], SchemaVersion)
	}
	m := Manifest{SchemaVersion: SchemaVersion}
	if m.BuiltAt, err = time.Parse(time.RFC3339Nano, meta["built_at"]); err != nil {
		return fmt.Errorf("manifest built_at %q: %w", meta["built_at"], err)
	}
	if m.Advisories, err = strconv.Atoi(meta["advisories"]); err != nil {
		return fmt.Errorf("manifest advisories %q: %w", meta["advisories"], err)
	}
	srows, err := db.sql.QueryContext(ctx, `SELECT kind, location, sha256, records, rejected FROM sources ORDER BY rowid`)
	if err != nil {
		return err
	}
	defer func() { _ = srows.Close() }() // read-only; errors surface on srows.Err
	for srows.Next() {
		var s SourceInfo
		if err := srows.Scan(&s.Kind, &s.Location, &s.SHA256, &s.Records, &s.Rejected); err != nil {
			return err
		}
		m.Sources = append(m.Sources, s)
	}
	if err := srows.Err(); err != nil {
		return err
	}
	db.manifest = m
	if db.lookup, err = db.sql.PrepareContext(ctx, `
		SELECT a.id, a.summary, a.severity, a.dbsev, a.aliases, f.data
		FROM affected f JOIN advisories a ON a.id = f.advisory_id
		WHERE f.ecosystem = ? AND f.name = ? AND a.withdrawn = ''
		ORDER BY a.id, f.rowid`); err != nil {
		return err
	}
	if db.reverse, err = db.sql.PrepareContext(ctx, `SELECT id FROM aliases WHERE alias = ?`); err != nil {
		return err
	}
	return nil
}

// Manifest returns the manifest stored at build time.
func (db *DB) Manifest() Manifest { return db.manifest }

// Lookup returns the affected entries of non-withdrawn advisories for the
// package name (normalised with NormalizeName) in the ecosystem, which must
// be spelled as in OSV records ("PyPI", "Go", "Alpine:v3.10").
func (db *DB) Lookup(ctx context.Context, ecosystem, name string) ([]Candidate, error) {
	rows, err := db.lookup.QueryContext(ctx, ecosystem, NormalizeName(ecosystem, name))
	if err != nil {
		return nil, fmt.Errorf("look up %s package %s: %w", ecosystem, name, err)
	}
	defer func() { _ = rows.Close() }() // read-only; errors surface on rows.Err
	var out []Candidate
	for rows.Next() {
		var c Candidate
		var sev, aliases string
		var data []byte
		if err := rows.Scan(&c.AdvisoryID, &c.Summary, &sev, &c.DatabaseSeverity, &aliases, &data); err != nil {
			return nil, fmt.Errorf("look up %s package %s: %w", ecosystem, name, err)
		}
		if err := errors.Join(
			json.Unmarshal([]byte(sev), &c.Severity),
			json.Unmarshal([]byte(aliases), &c.Aliases),
			json.Unmarshal(data, &c.Affected),
		); err != nil {
			return nil, fmt.Errorf("look up %s package %s: corrupt entry for %s (rebuild the database): %w", ecosystem, name, c.AdvisoryID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up %s package %s: %w", ecosystem, name, err)
	}
	return out, nil
}

// Aliases returns every ID linked to id: the aliases the record lists and
// the records that list it (or one of its aliases) as an alias, sorted,
// without id itself.
func (db *DB) Aliases(ctx context.Context, id string, own []string) ([]string, error) {
	set := map[string]bool{}
	for _, a := range own {
		set[a] = true
	}
	for _, key := range append([]string{id}, own...) {
		rows, err := db.reverse.QueryContext(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("aliases of %s: %w", id, err)
		}
		for rows.Next() {
			var other string
			if err := rows.Scan(&other); err != nil {
				_ = rows.Close() // read-only query; the Scan error is what matters
				return nil, fmt.Errorf("aliases of %s: %w", id, err)
			}
			set[other] = true
		}
		closeErr := rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("aliases of %s: %w", id, err)
		}
		if closeErr != nil {
			return nil, fmt.Errorf("aliases of %s: %w", id, closeErr)
		}
	}
	delete(set, id)
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out, nil
}

// Close releases the database.
func (db *DB) Close() error { return db.sql.Close() }
