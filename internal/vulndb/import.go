package vulndb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrImportMismatch is wrapped by the error Import returns when the file
// does not match its manifest (size, hash or stored manifest).
var ErrImportMismatch = errors.New("database does not match its manifest")

// ImportOptions say what to import and where.
type ImportOptions struct {
	// File is the database file to import.
	File string
	// Manifest is its manifest file; empty means ManifestPath(File).
	Manifest string
	// Out is the database to replace.
	Out string
}

// Import verifies a database published with a manifest file and replaces
// Out with it atomically: the file is copied next to Out while its
// SHA-256 is computed, the size and hash are checked against the
// manifest, the copy is opened and its stored manifest compared with the
// manifest file and its integrity checked, and only then is it renamed
// over Out (and its manifest written as ManifestPath(Out)). Any failure
// leaves Out as it was.
func Import(ctx context.Context, opts ImportOptions) (Manifest, error) {
	m, err := importDB(ctx, opts)
	result := "ok"
	if err != nil {
		result = "rejected"
	}
	imports.WithLabelValues(result).Inc()
	return m, err
}

func importDB(ctx context.Context, opts ImportOptions) (_ Manifest, err error) {
	if opts.File == "" || opts.Out == "" {
		return Manifest{}, errors.New("vulndb import: a database file and an output path are required")
	}
	manPath := opts.Manifest
	if manPath == "" {
		manPath = ManifestPath(opts.File)
	}
	raw, err := readLimited(manPath, maxManifestFile)
	if err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: read manifest (publish FILE.manifest.json with the database, or pass --manifest): %w", err)
	}
	mf, err := ParseManifestFile(raw)
	if err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: %s: %w", manPath, err)
	}

	src, err := os.Open(opts.File)
	if err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: %w", err)
	}
	defer func() { _ = src.Close() }()
	tmp, err := os.CreateTemp(filepath.Dir(opts.Out), ".vulndb-import-*.tmp")
	if err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: temporary file (is %s writable?): %w", filepath.Dir(opts.Out), err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(src, mf.Size+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: copy %s: %w", opts.File, err)
	}
	if n != mf.Size {
		return Manifest{}, fmt.Errorf("vulndb import: %s: %w: size differs from the manifest's %d bytes", opts.File, ErrImportMismatch, mf.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != mf.SHA256 {
		return Manifest{}, fmt.Errorf("vulndb import: %s: %w: SHA-256 %s, the manifest says %s", opts.File, ErrImportMismatch, sum, mf.SHA256)
	}
	if err := verifyCopy(ctx, tmp.Name(), mf); err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: %s: %w", opts.File, err)
	}
	if err := os.Rename(tmp.Name(), opts.Out); err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: replace %s: %w", opts.Out, err)
	}
	if err := writeFileAtomic(ManifestPath(opts.Out), raw); err != nil {
		return Manifest{}, fmt.Errorf("vulndb import: write manifest: %w", err)
	}
	return mf.Manifest, nil
}

// verifyCopy opens the copied database and checks that it is what the
// manifest describes and that SQLite finds it intact.
func verifyCopy(ctx context.Context, file string, mf ManifestFile) error {
	db, err := Open(ctx, file)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if diff := sameManifest(db.Manifest(), mf); diff != "" {
		return fmt.Errorf("%w: the stored manifest differs in its %s", ErrImportMismatch, diff)
	}
	var check string
	if err := db.sql.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if check != "ok" {
		return fmt.Errorf("%w: integrity check: %s", ErrImportMismatch, check)
	}
	var count int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM advisories`).Scan(&count); err != nil {
		return fmt.Errorf("count advisories: %w", err)
	}
	if count != mf.Advisories {
		return fmt.Errorf("%w: %d advisories stored, the manifest says %d", ErrImportMismatch, count, mf.Advisories)
	}
	return nil
}

func readLimited(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, limit)
	}
	return data, nil
}
