// Package dataset loads labelled flow records from the corrected
// CIC-IDS2017 CSV files: single CSV files, directories of them, or the
// .tar.gz archive they are published in.
package dataset

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubeward/kubeward/internal/flow"
)

// Options select what Load reads.
type Options struct {
	// Match, when set, keeps only CSV files (or archive members) whose
	// path contains it, e.g. "rnd_5000" for one sample of the published
	// archive.
	Match string
	// MaxBadRows is how many unparsable rows are skipped (and counted in
	// Dataset.Rejected) before Load fails; 0 means none is tolerated.
	MaxBadRows int
}

// Dataset is a set of labelled flow records.
type Dataset struct {
	// Records in file order (files sorted by path).
	Records []flow.Record
	// Files lists the CSV files read.
	Files []string
	// SHA256 is the hex digest of the bytes of every file read, in order;
	// it identifies the training data in model metadata.
	SHA256 string
	// Rejected counts skipped rows; FirstError describes the first one.
	Rejected   int
	FirstError error
}

// Load reads every path: a .csv file, a directory (its .csv files,
// recursively) or a .tar.gz/.tgz archive of CSV files. The header
// reference file of the published archive (no rows) is skipped.
func Load(ctx context.Context, paths []string, opts Options) (*Dataset, error) {
	ds := &Dataset{}
	h := sha256.New()
	for _, p := range paths {
		if err := ds.loadPath(ctx, p, opts, h); err != nil {
			return nil, err
		}
	}
	if len(ds.Files) == 0 {
		return nil, fmt.Errorf("no CSV file found in %v (match %q): give CSV files, directories or the .tar.gz archive", paths, opts.Match)
	}
	ds.SHA256 = hex.EncodeToString(h.Sum(nil))
	return ds, nil
}

func (ds *Dataset) loadPath(ctx context.Context, p string, opts Options, h hash.Hash) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	switch {
	case fi.IsDir():
		var files []string
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && wanted(path, opts) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("dataset: walk %s: %w", p, err)
		}
		sort.Strings(files)
		for _, f := range files {
			if err := ds.loadFile(ctx, f, opts, h); err != nil {
				return err
			}
		}
		return nil
	case strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz"):
		return ds.loadArchive(ctx, p, opts, h)
	default:
		return ds.loadFile(ctx, p, opts, h)
	}
}

func wanted(path string, opts Options) bool {
	return strings.HasSuffix(strings.ToLower(path), ".csv") &&
		!strings.HasSuffix(path, "data_header_reference.csv") &&
		strings.Contains(path, opts.Match)
}

func (ds *Dataset) loadFile(ctx context.Context, path string, opts Options, h hash.Hash) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	return ds.read(ctx, io.TeeReader(f, h), path, opts)
}

func (ds *Dataset) loadArchive(ctx context.Context, path string, opts Options, h hash.Hash) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("dataset %s: not a gzip archive: %w", path, err)
	}
	tr := tar.NewReader(gz)
	type member struct {
		name string
		body []byte
	}
	var members []member
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("dataset %s: read archive: %w", path, err)
		}
		if hdr.Typeflag != tar.TypeReg || !wanted(hdr.Name, opts) {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(tr, 1<<30))
		if err != nil {
			return fmt.Errorf("dataset %s: read %s: %w", path, hdr.Name, err)
		}
		members = append(members, member{hdr.Name, body})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].name < members[j].name })
	for _, m := range members {
		h.Write(m.body)
		if err := ds.read(ctx, strings.NewReader(string(m.body)), path+":"+m.name, opts); err != nil {
			return err
		}
	}
	return nil
}

func (ds *Dataset) read(ctx context.Context, r io.Reader, name string, opts Options) error {
	cr, err := flow.NewCSVReader(r, name)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	ds.Files = append(ds.Files, name)
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var rec flow.Record
		err := cr.Read(&rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			ds.Rejected++
			if ds.FirstError == nil {
				ds.FirstError = err
			}
			if ds.Rejected > opts.MaxBadRows {
				return fmt.Errorf("dataset: %w (raise the bad-row allowance to skip such rows)", err)
			}
			continue
		}
		ds.Records = append(ds.Records, rec)
	}
}

// ClassCounts returns the number of records per label.
func (ds *Dataset) ClassCounts() map[string]int {
	m := map[string]int{}
	for i := range ds.Records {
		m[ds.Records[i].Label]++
	}
	return m
}
