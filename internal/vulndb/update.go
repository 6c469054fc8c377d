package vulndb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// UpdateStats counts what an incremental update changed.
type UpdateStats struct {
	// Added, Updated and Deleted count advisory records written or removed.
	Added, Updated, Deleted int
	// Unchanged counts records left as they were.
	Unchanged int
}

// Changed reports whether the update wrote any record.
func (s UpdateStats) Changed() bool { return s.Added+s.Updated+s.Deleted > 0 }

// Update brings the database at path up to date with its sources: they
// are read again (opts.OSV and opts.Alpine, or, when both are empty, the
// locations recorded in the database's manifest), and only records whose
// content or source changed are rewritten, new ones added and those no
// longer in any source deleted; the manifest (sources, hashes, counts,
// build time) is rewritten. The changes are made to a copy of the file,
// which then replaces path by a rename, so readers (which open the file
// as immutable) see the old or the new database, never a mix, and a failed
// update leaves the old one. ManifestPath(path) is rewritten afterwards.
func Update(ctx context.Context, path string, opts BuildOptions) (Manifest, UpdateStats, error) {
	old, err := Open(ctx, path)
	if err != nil {
		return Manifest{}, UpdateStats{}, fmt.Errorf("vulndb update: %w", err)
	}
	oldMan := old.Manifest()
	if err := old.Close(); err != nil {
		return Manifest{}, UpdateStats{}, fmt.Errorf("vulndb update: %w", err)
	}
	if len(opts.OSV) == 0 && len(opts.Alpine) == 0 {
		for _, s := range oldMan.Sources {
			switch s.Kind {
			case KindOSV:
				opts.OSV = append(opts.OSV, s.Location)
			case KindAlpine:
				opts.Alpine = append(opts.Alpine, s.Location)
			}
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	man, all, err := collect(ctx, opts)
	if err != nil {
		return Manifest{}, UpdateStats{}, fmt.Errorf("vulndb update: %w", err)
	}
	man.SchemaVersion = SchemaVersion
	man.BuiltAt = now().UTC()
	stats, err := replaceUpdated(ctx, path, man, all)
	if err != nil {
		return Manifest{}, UpdateStats{}, fmt.Errorf("vulndb update %s: %w", path, err)
	}
	if err := WriteManifestFile(ctx, path); err != nil {
		return Manifest{}, UpdateStats{}, fmt.Errorf("vulndb update: %w", err)
	}
	updatedRecords.WithLabelValues("added").Add(float64(stats.Added))
	updatedRecords.WithLabelValues("updated").Add(float64(stats.Updated))
	updatedRecords.WithLabelValues("deleted").Add(float64(stats.Deleted))
	return man, stats, nil
}

// replaceUpdated copies the database at path, applies the update to the
// copy and renames it over path.
func replaceUpdated(ctx context.Context, path string, man Manifest, all map[string]storedAdvisory) (_ UpdateStats, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vulndb-update-*.tmp")
	if err != nil {
		return UpdateStats{}, fmt.Errorf("temporary copy (is %s writable?): %w", filepath.Dir(path), err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	src, err := os.Open(path)
	if err != nil {
		_ = tmp.Close()
		return UpdateStats{}, err
	}
	_, err = io.Copy(tmp, src)
	_ = src.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return UpdateStats{}, fmt.Errorf("temporary copy: %w", err)
	}
	stats, err := applyUpdate(ctx, tmp.Name(), man, all)
	if err != nil {
		return UpdateStats{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return UpdateStats{}, fmt.Errorf("replace %s: %w", path, err)
	}
	return stats, nil
}

// applyUpdate writes the difference between the records stored in the
// database at path and all, in one transaction.
func applyUpdate(ctx context.Context, path string, man Manifest, all map[string]storedAdvisory) (_ UpdateStats, err error) {
	dsn := (&url.URL{Scheme: "file", Opaque: path, RawQuery: "_pragma=busy_timeout(10000)&_txlock=immediate"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return UpdateStats{}, err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return UpdateStats{}, err
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit

	stored, err := storedDigests(ctx, tx)
	if err != nil {
		return UpdateStats{}, err
	}
	rw, err := newRecordWriter(ctx, tx)
	if err != nil {
		return UpdateStats{}, err
	}
	var stats UpdateStats
	for id, s := range all {
		if err := ctx.Err(); err != nil {
			return UpdateStats{}, err
		}
		d, err := digestOf(s)
		if err != nil {
			return UpdateStats{}, err
		}
		old, ok := stored[id]
		delete(stored, id)
		switch {
		case !ok:
			stats.Added++
		case old == d:
			stats.Unchanged++
			continue
		default:
			stats.Updated++
			if err := rw.remove(ctx, id); err != nil {
				return UpdateStats{}, err
			}
		}
		if err := rw.insert(ctx, id, s); err != nil {
			return UpdateStats{}, err
		}
	}
	for id := range stored {
		if err := rw.remove(ctx, id); err != nil {
			return UpdateStats{}, err
		}
		stats.Deleted++
	}
	if err := writeManifestRows(ctx, tx, man); err != nil {
		return UpdateStats{}, err
	}
	if err := tx.Commit(); err != nil {
		return UpdateStats{}, err
	}
	return stats, nil
}

// recordDigest identifies a stored record's content and source.
type recordDigest [sha256.Size]byte

func digestOf(s storedAdvisory) (recordDigest, error) {
	record, err := encodeRecord(s.adv)
	if err != nil {
		return recordDigest{}, fmt.Errorf("encode %s: %w", s.adv.ID, err)
	}
	return digestBytes(s.source, record), nil
}

func digestBytes(source string, record []byte) recordDigest {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write(record)
	var d recordDigest
	h.Sum(d[:0])
	return d
}

// storedDigests returns the digest of every stored record by ID.
func storedDigests(ctx context.Context, tx *sql.Tx) (map[string]recordDigest, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, source, record FROM advisories`)
	if err != nil {
		return nil, fmt.Errorf("read stored records: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]recordDigest{}
	for rows.Next() {
		var id, source string
		var record []byte
		if err := rows.Scan(&id, &source, &record); err != nil {
			return nil, fmt.Errorf("read stored records: %w", err)
		}
		out[id] = digestBytes(source, record)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored records: %w", err)
	}
	return out, nil
}
