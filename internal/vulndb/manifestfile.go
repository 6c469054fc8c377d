package vulndb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// ErrBadManifest is wrapped by errors about a manifest file that cannot be
// trusted: malformed JSON, missing or impossible fields.
var ErrBadManifest = errors.New("invalid vulnerability database manifest")

// maxManifestFile bounds a manifest file; real ones are a few hundred
// bytes per source.
const maxManifestFile = 1 << 20

// ManifestFile is the JSON document published next to a database file
// (FILE.manifest.json): the database's manifest plus the size and SHA-256
// of the file, so that `kubeward db import` can verify a downloaded or
// copied database before it replaces the one in use.
type ManifestFile struct {
	Manifest
	// Size is the database file's size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the database file.
	SHA256 string `json:"sha256"`
}

// ManifestPath is where the manifest of the database at db is written.
func ManifestPath(db string) string { return db + ".manifest.json" }

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseManifestFile reads a manifest file strictly: unknown fields,
// trailing data, a schema version this binary does not read, a missing
// build time, impossible counts or malformed hashes are refused with an
// error wrapping ErrBadManifest.
func ParseManifestFile(data []byte) (ManifestFile, error) {
	if len(data) > maxManifestFile {
		return ManifestFile{}, fmt.Errorf("%w: larger than %d bytes", ErrBadManifest, maxManifestFile)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m ManifestFile
	if err := dec.Decode(&m); err != nil {
		return ManifestFile{}, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ManifestFile{}, fmt.Errorf("%w: data after the JSON object", ErrBadManifest)
	}
	switch {
	case m.SchemaVersion != SchemaVersion:
		return ManifestFile{}, fmt.Errorf("%w: schema version %q, this kubeward reads %q", ErrBadManifest, m.SchemaVersion, SchemaVersion)
	case m.BuiltAt.IsZero():
		return ManifestFile{}, fmt.Errorf("%w: no built_at time", ErrBadManifest)
	case m.Advisories < 0:
		return ManifestFile{}, fmt.Errorf("%w: negative advisory count %d", ErrBadManifest, m.Advisories)
	case m.Size <= 0:
		return ManifestFile{}, fmt.Errorf("%w: database size %d", ErrBadManifest, m.Size)
	case !hexSHA256.MatchString(m.SHA256):
		return ManifestFile{}, fmt.Errorf("%w: sha256 %q is not 64 lower-case hex digits", ErrBadManifest, m.SHA256)
	case len(m.Sources) == 0:
		return ManifestFile{}, fmt.Errorf("%w: no sources", ErrBadManifest)
	}
	for i, s := range m.Sources {
		switch {
		case s.Kind != KindOSV && s.Kind != KindAlpine:
			return ManifestFile{}, fmt.Errorf("%w: source %d: unknown kind %q", ErrBadManifest, i, s.Kind)
		case s.Location == "":
			return ManifestFile{}, fmt.Errorf("%w: source %d: no location", ErrBadManifest, i)
		case s.SHA256 != "" && !hexSHA256.MatchString(s.SHA256):
			return ManifestFile{}, fmt.Errorf("%w: source %d: sha256 %q is not 64 lower-case hex digits", ErrBadManifest, i, s.SHA256)
		case s.Records < 0 || s.Rejected < 0:
			return ManifestFile{}, fmt.Errorf("%w: source %d: negative counts", ErrBadManifest, i)
		}
	}
	m.BuiltAt = m.BuiltAt.UTC()
	return m, nil
}

// WriteManifestFile writes ManifestPath(db) for the database at db,
// atomically.
func WriteManifestFile(ctx context.Context, db string) error {
	sum, size, err := fileSHA256(db)
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", db, err)
	}
	d, err := Open(ctx, db)
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", db, err)
	}
	man := d.Manifest()
	if err := d.Close(); err != nil {
		return fmt.Errorf("manifest of %s: %w", db, err)
	}
	data, err := json.MarshalIndent(ManifestFile{Manifest: man, Size: size, SHA256: sum}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(ManifestPath(db), append(data, '\n'))
}

func fileSHA256(file string) (string, int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeFileAtomic replaces name with data through a temporary file in the
// same directory.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".manifest-*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// sameManifest reports how a database's stored manifest differs from the
// manifest file published with it, or "" when they agree.
func sameManifest(stored Manifest, file ManifestFile) string {
	switch {
	case stored.SchemaVersion != file.SchemaVersion:
		return "schema version"
	case !stored.BuiltAt.Equal(file.BuiltAt):
		return fmt.Sprintf("build time (%s in the database, %s in the manifest)", stored.BuiltAt.Format(time.RFC3339), file.BuiltAt.Format(time.RFC3339))
	case stored.Advisories != file.Advisories:
		return fmt.Sprintf("advisory count (%d in the database, %d in the manifest)", stored.Advisories, file.Advisories)
	case len(stored.Sources) != len(file.Sources):
		return "number of sources"
	}
	for i := range stored.Sources {
		if stored.Sources[i] != file.Sources[i] {
			return fmt.Sprintf("source %d (%s)", i, stored.Sources[i].Location)
		}
	}
	return ""
}
