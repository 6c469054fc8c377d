package vulndb

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// maxDownload bounds an http(s) source; the largest public OSV archive
// (all ecosystems) is well under it.
const maxDownload = 4 << 30

// isURL reports whether a source location is an http(s) URL rather than a
// local path.
func isURL(loc string) bool {
	return strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://")
}

// walk is walkSource for a location that may also be an http(s) URL: the
// URL is downloaded to a temporary file (streamed, never held in memory),
// which is then read by its extension (.zip, .tar.gz, .tgz, .tar or a
// single record). The returned SHA-256 is that of the downloaded bytes.
func (o BuildOptions) walk(ctx context.Context, loc string, want func(string) bool, fn func(sourceFile) error) (string, error) {
	if !isURL(loc) {
		return walkSource(ctx, loc, want, fn)
	}
	file, sum, cleanup, err := o.download(ctx, loc)
	if err != nil {
		return "", err
	}
	defer cleanup()
	if _, err := walkFile(ctx, loc, file, want, fn); err != nil {
		return "", err
	}
	return sum, nil
}

// download fetches u into a temporary file named with u's extension and
// returns its path and SHA-256.
func (o BuildOptions) download(ctx context.Context, u string) (file, sum string, cleanup func(), err error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", "", nil, fmt.Errorf("source %s: %w", u, err)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", "", nil, fmt.Errorf("source %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", nil, fmt.Errorf("source %s: download: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", "", nil, fmt.Errorf("source %s: download: HTTP %s (check the URL)", u, resp.Status)
	}
	ext := sourceExt(pu.Path)
	f, err := os.CreateTemp("", "kubeward-source-*"+ext)
	if err != nil {
		return "", "", nil, fmt.Errorf("source %s: temporary file: %w", u, err)
	}
	cleanup = func() { _ = os.Remove(f.Name()) }
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if o.Download != nil {
		w = io.MultiWriter(w, o.Download(u, resp.ContentLength))
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxDownload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxDownload {
		err = fmt.Errorf("larger than %d bytes", int64(maxDownload))
	}
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("source %s: download: %w", u, err)
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), cleanup, nil
}

// sourceExt returns the extension walkFile dispatches on.
func sourceExt(p string) string {
	lower := strings.ToLower(p)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".zip", ".json", ".yaml", ".yml"} {
		if strings.HasSuffix(lower, ext) {
			return ext
		}
	}
	return path.Ext(lower)
}

// walkZip calls fn for every regular file of the zip archive at file that
// want accepts. Entries larger than maxSourceFile are refused.
func walkZip(ctx context.Context, loc, file string, want func(string) bool, fn func(sourceFile) error) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return fmt.Errorf("source %s: not a zip archive: %w", loc, err)
	}
	defer func() { _ = zr.Close() }()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(zf.Name, "./"))
		if !zf.Mode().IsRegular() || !want(name) {
			continue
		}
		if zf.UncompressedSize64 > maxSourceFile {
			return fmt.Errorf("source %s: %s is %d bytes, larger than any advisory file should be", loc, name, zf.UncompressedSize64)
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("source %s: open %s: %w", loc, name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxSourceFile+1))
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("source %s: read %s: %w", loc, name, err)
		}
		if len(data) > maxSourceFile {
			return fmt.Errorf("source %s: %s inflates beyond %d bytes", loc, name, maxSourceFile)
		}
		if err := fn(sourceFile{Name: name, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
