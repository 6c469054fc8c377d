package vulndb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Source kinds recorded in the manifest.
const (
	KindOSV    = "osv"
	KindAlpine = "alpine-secdb"
)

// BuildOptions says which sources go into a database and where it goes.
// A source location is a directory, a .tar.gz/.tgz/.tar archive or a
// single file.
type BuildOptions struct {
	// OSV lists locations of OSV records (*.json, *.yaml, *.yml, one record
	// per file, any ecosystem).
	OSV []string
	// Alpine lists locations of Alpine secdb trees (vX.Y/<repo>.yaml).
	Alpine []string
	// Out is the database file to write. It is replaced atomically, so an
	// existing database survives a failed build.
	Out string
	// Now returns the build time; nil means time.Now.
	Now func() time.Time
	// Logger receives per-file rejections at debug level and a summary per
	// source; nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient fetches http(s) source locations; nil means a client
	// with a 10-minute overall timeout.
	HTTPClient *http.Client
	// Progress, when set, is told how many files of each source have been
	// read so far (a progress bar, typically).
	Progress func(kind, location string, files int)
	// Download, when set, is called before an http(s) source is fetched
	// and receives a copy of its bytes through the returned writer; size
	// is the announced length, or -1.
	Download func(url string, size int64) io.Writer
}

// Manifest describes a built database.
type Manifest struct {
	SchemaVersion string       `json:"schema_version"`
	BuiltAt       time.Time    `json:"built_at"`
	Sources       []SourceInfo `json:"sources"`
	// Advisories is the number of distinct advisory records stored.
	Advisories int `json:"advisories"`
}

// SourceInfo is the manifest entry of one source location.
type SourceInfo struct {
	Kind     string `json:"kind"`
	Location string `json:"location"`
	SHA256   string `json:"sha256"`
	// Records is the number of records the source contributed.
	Records int `json:"records"`
	// Rejected is the number of files or entries that could not be used.
	Rejected int `json:"rejected"`
}

type storedAdvisory struct {
	adv    *Advisory
	source string
}

var secdbFile = regexp.MustCompile(`(^|/)v[0-9]+\.[0-9]+/[^/]+\.ya?ml$`)

// Build reads every source, converts it to OSV and writes one SQLite
// database with the advisories, their affected packages, an alias index
// and the manifest. A record ID seen twice keeps the copy with the later
// modification time (the first one on a tie).
func Build(ctx context.Context, opts BuildOptions) (Manifest, error) {
	if opts.Out == "" {
		return Manifest{}, errors.New("vulndb build: no output file given")
	}
	man, all, err := collect(ctx, opts)
	if err != nil {
		return Manifest{}, fmt.Errorf("vulndb build: %w", err)
	}
	if err := write(ctx, opts.Out, man, all); err != nil {
		return Manifest{}, fmt.Errorf("vulndb build: write %s: %w", opts.Out, err)
	}
	if err := WriteManifestFile(ctx, opts.Out); err != nil {
		return Manifest{}, fmt.Errorf("vulndb build: %w", err)
	}
	for _, s := range man.Sources {
		recordsImported.WithLabelValues(s.Kind).Add(float64(s.Records))
	}
	return man, nil
}

// collect reads every source of opts into advisories keyed by ID and the
// manifest describing them.
func collect(ctx context.Context, opts BuildOptions) (Manifest, map[string]storedAdvisory, error) {
	if len(opts.OSV) == 0 && len(opts.Alpine) == 0 {
		return Manifest{}, nil, errors.New("no sources given: pass at least one OSV or Alpine secdb location")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	man := Manifest{SchemaVersion: SchemaVersion, BuiltAt: now().UTC()}
	all := map[string]storedAdvisory{}

	for _, loc := range opts.OSV {
		info := SourceInfo{Kind: KindOSV, Location: loc}
		want := func(name string) bool {
			base := path.Base(name)
			if strings.HasPrefix(base, ".") {
				return false
			}
			ext := path.Ext(base)
			return ext == ".json" || ext == ".yaml" || ext == ".yml"
		}
		files := 0
		sum, err := opts.walk(ctx, loc, want, func(f sourceFile) error {
			files++
			opts.progress(KindOSV, loc, files)
			format := FormatJSON
			if path.Ext(f.Name) != ".json" {
				format = FormatYAML
			}
			a, err := DecodeAdvisory(f.Data, format)
			if err != nil {
				info.Rejected++
				recordsRejected.WithLabelValues(KindOSV, "invalid").Inc()
				log.Debug("vulndb: rejected OSV record", "source", loc, "file", f.Name, "err", err)
				return nil
			}
			if keep(all, a, loc) {
				info.Records++
			} else {
				info.Rejected++
				recordsRejected.WithLabelValues(KindOSV, "duplicate").Inc()
			}
			return nil
		})
		if err != nil {
			return Manifest{}, nil, err
		}
		info.SHA256 = sum
		man.Sources = append(man.Sources, info)
		log.Info("vulndb: read OSV source", "source", loc, "records", info.Records, "rejected", info.Rejected)
	}

	for _, loc := range opts.Alpine {
		info := SourceInfo{Kind: KindAlpine, Location: loc}
		alpine := map[string]*Advisory{}
		files := 0
		sum, err := opts.walk(ctx, loc, secdbFile.MatchString, func(f sourceFile) error {
			files++
			opts.progress(KindAlpine, loc, files)
			db, err := DecodeSecDB(f.Data)
			if err != nil {
				info.Rejected++
				recordsRejected.WithLabelValues(KindAlpine, "invalid").Inc()
				log.Warn("vulndb: rejected Alpine secdb file", "source", loc, "file", f.Name, "err", err)
				return nil
			}
			advs, skipped := db.Advisories()
			info.Rejected += skipped
			recordsRejected.WithLabelValues(KindAlpine, "entry").Add(float64(skipped))
			for _, a := range advs {
				mergeAffected(alpine, a)
			}
			return nil
		})
		if err != nil {
			return Manifest{}, nil, err
		}
		for _, a := range alpine {
			if keep(all, a, loc) {
				info.Records++
			} else {
				info.Rejected++
				recordsRejected.WithLabelValues(KindAlpine, "duplicate").Inc()
			}
		}
		info.SHA256 = sum
		man.Sources = append(man.Sources, info)
		log.Info("vulndb: read Alpine secdb source", "source", loc, "records", info.Records, "rejected", info.Rejected)
	}

	man.Advisories = len(all)
	return man, all, nil
}

func (o BuildOptions) progress(kind, loc string, files int) {
	if o.Progress != nil {
		o.Progress(kind, loc, files)
	}
}

// keep stores a in all unless a record with the same ID and a later (or
// equal) modification time is already there; it reports whether a was kept.
func keep(all map[string]storedAdvisory, a *Advisory, source string) bool {
	if old, ok := all[a.ID]; ok && !a.ModifiedTime().After(old.adv.ModifiedTime()) {
		return false
	}
	all[a.ID] = storedAdvisory{adv: a, source: source}
	return true
}

// mergeAffected folds a into m, joining records of the same ID that come
// from different secdb files (branches and repositories).
func mergeAffected(m map[string]*Advisory, a *Advisory) {
	old, ok := m[a.ID]
	if !ok {
		m[a.ID] = a
		return
	}
	old.Affected = append(old.Affected, a.Affected...)
	for _, al := range a.Aliases {
		if !slices.Contains(old.Aliases, al) {
			old.Aliases = append(old.Aliases, al)
		}
	}
}

func write(ctx context.Context, out string, man Manifest, all map[string]storedAdvisory) (err error) {
	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, ".vulndb-*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary file (is %s writable?): %w", dir, err)
	}
	tmpName := tmp.Name()
	closeErr := tmp.Close() // SQLite reopens it by name
	defer func() {
		if err != nil {
			if rerr := os.Remove(tmpName); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove temporary file %s: %w", tmpName, rerr))
			}
		}
	}()
	if closeErr != nil {
		return fmt.Errorf("close temporary file %s: %w", tmpName, closeErr)
	}
	db, err := sql.Open("sqlite", "file:"+tmpName+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit; on failure the file is removed
	if err := writeManifestRows(ctx, tx, man); err != nil {
		return err
	}
	rw, err := newRecordWriter(ctx, tx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rw.insert(ctx, id, all[id]); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, indexes); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return fmt.Errorf("replace %s: %w", out, err)
	}
	return nil
}

// writeManifestRows replaces the manifest rows (meta and sources) with man.
func writeManifestRows(ctx context.Context, tx *sql.Tx, man Manifest) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta; DELETE FROM sources;`); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	meta := map[string]string{
		"schema_version": man.SchemaVersion,
		"built_at":       man.BuiltAt.Format(time.RFC3339Nano),
		"advisories":     fmt.Sprint(man.Advisories),
	}
	for k, v := range meta {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, k, v); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
	}
	for _, s := range man.Sources {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sources (kind, location, sha256, records, rejected) VALUES (?, ?, ?, ?, ?)`,
			s.Kind, s.Location, s.SHA256, s.Records, s.Rejected); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
	}
	return nil
}

// recordWriter inserts and deletes advisories with their alias and
// affected-package rows through prepared statements.
type recordWriter struct {
	insAdv, insAlias, insAff *sql.Stmt
	delAdv, delAlias, delAff *sql.Stmt
}

func newRecordWriter(ctx context.Context, tx *sql.Tx) (*recordWriter, error) {
	var rw recordWriter
	for _, st := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&rw.insAdv, `INSERT INTO advisories (id, source, modified, withdrawn, summary, severity, dbsev, aliases, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&rw.insAlias, `INSERT OR IGNORE INTO aliases (id, alias) VALUES (?, ?)`},
		{&rw.insAff, `INSERT INTO affected (advisory_id, ecosystem, name, data) VALUES (?, ?, ?, ?)`},
		{&rw.delAdv, `DELETE FROM advisories WHERE id = ?`},
		{&rw.delAlias, `DELETE FROM aliases WHERE id = ?`},
		{&rw.delAff, `DELETE FROM affected WHERE advisory_id = ?`},
	} {
		stmt, err := tx.PrepareContext(ctx, st.query)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", st.query, err)
		}
		*st.dst = stmt
	}
	return &rw, nil
}

// insert stores the advisory s under id.
func (rw *recordWriter) insert(ctx context.Context, id string, s storedAdvisory) error {
	a := s.adv
	record, err := encodeRecord(a)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	sev, _ := json.Marshal(a.Severity)
	aliases, _ := json.Marshal(append([]string{}, a.Aliases...))
	dbsev, _ := a.DatabaseSpecific["severity"].(string)
	if _, err := rw.insAdv.ExecContext(ctx, id, s.source, a.Modified, a.Withdrawn, a.Summary, string(sev), dbsev, string(aliases), record); err != nil {
		return fmt.Errorf("store %s: %w", id, err)
	}
	for _, al := range a.Aliases {
		if al == id {
			continue
		}
		if _, err := rw.insAlias.ExecContext(ctx, id, al); err != nil {
			return fmt.Errorf("store aliases of %s: %w", id, err)
		}
	}
	for _, af := range a.Affected {
		data, err := json.Marshal(af)
		if err != nil {
			return fmt.Errorf("encode %s affected %s: %w", id, af.Package.Name, err)
		}
		if _, err := rw.insAff.ExecContext(ctx, id, af.Package.Ecosystem, NormalizeName(af.Package.Ecosystem, af.Package.Name), data); err != nil {
			return fmt.Errorf("store %s affected %s: %w", id, af.Package.Name, err)
		}
	}
	return nil
}

// remove deletes the advisory id and its rows.
func (rw *recordWriter) remove(ctx context.Context, id string) error {
	for _, st := range []*sql.Stmt{rw.delAff, rw.delAlias, rw.delAdv} {
		if _, err := st.ExecContext(ctx, id); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
	}
	return nil
}

// encodeRecord is the storage form of a record.
func encodeRecord(a *Advisory) ([]byte, error) { return json.Marshal(a) }
