package vulndb

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxSourceFile bounds one file read from a source; no advisory file
// comes near it, and a larger one is refused rather than truncated.
const maxSourceFile = 64 << 20

// sourceFile is one regular file read from a source location.
type sourceFile struct {
	// Name is the slash-separated path inside the source.
	Name string
	Data []byte
}

// walkSource calls fn for every regular file of a source location that
// want accepts: a directory (walked recursively), a .tar.gz/.tgz/.tar
// archive, or a single file. It returns the SHA-256 of the archive or file
// (for directories, of the sorted file names and contents).
func walkSource(ctx context.Context, loc string, want func(name string) bool, fn func(sourceFile) error) (string, error) {
	st, err := os.Stat(loc)
	if err != nil {
		return "", fmt.Errorf("source %s: %w (pass a directory, a .tar.gz archive or a file)", loc, err)
	}
	if st.IsDir() {
		return walkDir(ctx, loc, want, fn)
	}
	return walkFile(ctx, loc, loc, want, fn)
}

// walkFile reads the archive or record at file (named loc in messages) by
// its extension: .zip, .tar.gz/.tgz, .tar, or anything else as a single
// record. It returns the file's SHA-256.
func walkFile(ctx context.Context, loc, file string, want func(string) bool, fn func(sourceFile) error) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", loc, err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	r := io.TeeReader(f, h)
	switch sourceExt(file) {
	case ".zip":
		if err := walkZip(ctx, loc, file, want, fn); err != nil {
			return "", err
		}
	case ".tar.gz", ".tgz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", fmt.Errorf("source %s: not a gzip archive: %w", loc, err)
		}
		if err := walkTar(ctx, loc, zr, want, fn); err != nil {
			return "", err
		}
	case ".tar":
		if err := walkTar(ctx, loc, r, want, fn); err != nil {
			return "", err
		}
	default:
		data, err := io.ReadAll(io.LimitReader(r, maxSourceFile+1))
		if err != nil {
			return "", fmt.Errorf("source %s: %w", loc, err)
		}
		if len(data) > maxSourceFile {
			return "", fmt.Errorf("source %s: larger than %d bytes; is it really an advisory file?", loc, maxSourceFile)
		}
		if err := fn(sourceFile{Name: filepath.Base(file), Data: data}); err != nil {
			return "", err
		}
	}
	// Drain so the hash covers the whole file even when the tar reader
	// stopped at the end-of-archive marker (or the zip reader read it
	// through its own handle).
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", fmt.Errorf("source %s: %w", loc, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func walkTar(ctx context.Context, loc string, r io.Reader, want func(string) bool, fn func(sourceFile) error) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("source %s: read archive: %w", loc, err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if hdr.Typeflag != tar.TypeReg || !want(name) {
			continue
		}
		if hdr.Size > maxSourceFile {
			return fmt.Errorf("source %s: %s is %d bytes, larger than any advisory file should be", loc, name, hdr.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("source %s: read %s: %w", loc, name, err)
		}
		if err := fn(sourceFile{Name: name, Data: data}); err != nil {
			return err
		}
	}
}

func walkDir(ctx context.Context, root string, want func(string) bool, fn func(sourceFile) error) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !want(rel) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxSourceFile {
			return fmt.Errorf("%s is %d bytes, larger than any advisory file should be", rel, info.Size())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, _ = io.WriteString(h, rel) // hash writes never fail
		h.Write(data)
		return fn(sourceFile{Name: rel, Data: data})
	})
	if err != nil {
		return "", fmt.Errorf("source %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
