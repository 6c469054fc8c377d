package epss

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/cve"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Errors returned by Read; test for them with errors.Is.
var (
	// ErrBadHeader means the file does not start like an EPSS score file:
	// an optional "#model_version:...,score_date:..." comment, then a
	// header naming at least the cve and epss columns.
	ErrBadHeader = errors.New("not an EPSS score file")
	// ErrBadRow is wrapped by every *RowError.
	ErrBadRow = errors.New("invalid EPSS row")
	// ErrTooManyBadRows means more rows were bad than Reader.MaxBadRows
	// allows.
	ErrTooManyBadRows = errors.New("too many invalid EPSS rows")
)

// RowError describes one invalid row.
type RowError struct {
	// Line is the 1-based line number in the (decompressed) file.
	Line int
	// Field is the column at fault ("" when the row as a whole is).
	Field string
	// Value is the offending value.
	Value string
	// Err says what is wrong.
	Err error
}

// Error implements error.
func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: line %d: %v", ErrBadRow, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: line %d: %s %q: %v", ErrBadRow, e.Line, e.Field, e.Value, e.Err)
}

// Unwrap returns ErrBadRow and the underlying error.
func (e *RowError) Unwrap() []error { return []error{ErrBadRow, e.Err} }

// Meta describes a file Read went through.
type Meta struct {
	// ModelVersion is the model named in the comment line, e.g.
	// "v2023.03.01"; "" when the file has none.
	ModelVersion string `json:"modelVersion,omitempty"`
	// ScoreDate is the score_date of the comment line, or Reader.ScoreDate
	// for files without one (UTC).
	ScoreDate time.Time `json:"scoreDate,omitzero"`
	// Compressed is true when the input was gzipped.
	Compressed bool `json:"compressed"`
	// Rows counts the scores passed to fn.
	Rows int `json:"rows"`
	// BadRows counts the rows skipped as invalid (Reader.SkipBadRows).
	BadRows int `json:"badRows"`
	// Errors holds the first MaxReportedErrors skipped rows' errors.
	Errors []*RowError `json:"-"`
}

// MaxReportedErrors bounds Meta.Errors; later bad rows are only counted.
const MaxReportedErrors = 100

// Reader reads EPSS files. The zero value stops at the first bad row.
type Reader struct {
	// SkipBadRows counts and skips invalid rows (see Meta.BadRows and
	// Meta.Errors) instead of stopping at the first.
	SkipBadRows bool
	// MaxBadRows stops a skipping read with ErrTooManyBadRows once more
	// than this many rows were bad; 0 means no limit.
	MaxBadRows int
	// ScoreDate is the date given to scores of a file without a
	// score_date comment (older EPSS files have none); it is usually taken
	// from the file name.
	ScoreDate time.Time
}

var (
	badRows = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_epss_bad_rows_total",
		Help: "Invalid rows found in FIRST EPSS score files.",
	})
	readErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "kubeward_epss_read_errors_total",
		Help: "FIRST EPSS score files that could not be read to the end.",
	})
)

// Read reads an EPSS score file with the zero Reader: it stops at the
// first invalid row. See Reader.Read.
func Read(r io.Reader, fn func(Score) error) (Meta, error) {
	return Reader{}.Read(r, fn)
}

// Read streams a FIRST EPSS score file, gzipped or plain (told apart by
// the gzip magic bytes), and calls fn for every score in file order. The
// file may start with a comment line
// "#model_version:v2023.03.01,score_date:2023-03-12T00:00:00+0000", then
// has a header naming the columns (cve, epss and optionally percentile, in
// any order), then one row per CVE. A row is invalid when the CVE ID does
// not have the CVE-YYYY-NNNN shape, a score or percentile is not a number
// in [0, 1], or the field count is wrong; the error names its line. An
// error from fn stops the read and is returned as is (wrapped).
func (rd Reader) Read(r io.Reader, fn func(Score) error) (Meta, error) {
	meta, err := rd.read(r, fn)
	if err != nil {
		readErrors.Inc()
	}
	return meta, err
}

func (rd Reader) read(r io.Reader, fn func(Score) error) (Meta, error) {
	var meta Meta
	if !rd.ScoreDate.IsZero() {
		meta.ScoreDate = rd.ScoreDate.UTC()
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return meta, fmt.Errorf("%w: gzip: %w", ErrBadHeader, err)
		}
		defer func() { _ = gz.Close() }() // read-only; corruption surfaces on Read
		br = bufio.NewReaderSize(gunzipErrors{gz}, 64<<10)
		meta.Compressed = true
	}
	line := 0 // lines consumed before the CSV reader starts
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3) // a UTF-8 byte order mark; Peek showed it is there
	}
	if first, _ := br.Peek(1); len(first) == 1 && first[0] == '#' {
		comment, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return meta, fmt.Errorf("%w: line 1: %w", ErrBadHeader, err)
		}
		line = 1
		if err := parseComment(strings.TrimRight(comment, "\r\n"), &meta); err != nil {
			return meta, fmt.Errorf("%w: line 1: %w", ErrBadHeader, err)
		}
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return meta, fmt.Errorf("%w: no header line (want cve,epss,percentile)", ErrBadHeader)
		}
		return meta, fmt.Errorf("%w: header: %w", ErrBadHeader, err)
	}
	cols, err := columnsOf(header)
	if err != nil {
		return meta, fmt.Errorf("%w: line %d: %w", ErrBadHeader, line+1, err)
	}
	cr.FieldsPerRecord = len(header)

	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return meta, nil
		}
		var rowErr *RowError
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return meta, fmt.Errorf("read EPSS file after line %d: %w", line+meta.Rows+meta.BadRows+1, err)
			}
			rowErr = &RowError{Line: line + pe.Line, Err: pe.Err}
		} else {
			l, _ := cr.FieldPos(0)
			var s Score
			s, rowErr = cols.score(rec, line+l)
			if rowErr == nil {
				s.Date, s.ModelVersion = meta.ScoreDate, meta.ModelVersion
				if err := fn(s); err != nil {
					return meta, fmt.Errorf("EPSS line %d (%s): %w", line+l, s.CVEID, err)
				}
				meta.Rows++
				continue
			}
		}
		badRows.Inc()
		if !rd.SkipBadRows {
			return meta, rowErr
		}
		meta.BadRows++
		if len(meta.Errors) < MaxReportedErrors {
			meta.Errors = append(meta.Errors, rowErr)
		}
		if rd.MaxBadRows > 0 && meta.BadRows > rd.MaxBadRows {
			return meta, fmt.Errorf("%w: more than %d (last: %w)", ErrTooManyBadRows, rd.MaxBadRows, rowErr)
		}
	}
}

// parseComment reads "#model_version:v2023.03.01,score_date:2023-03-12T00:00:00+0000".
// Unknown keys are ignored.
func parseComment(c string, meta *Meta) error {
	for _, kv := range strings.Split(strings.TrimPrefix(c, "#"), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
		if !ok {
			continue
		}
		switch k {
		case "model_version":
			meta.ModelVersion = v
		case "score_date":
			t, err := parseScoreDate(v)
			if err != nil {
				return err
			}
			meta.ScoreDate = t
		}
	}
	return nil
}

// parseScoreDate accepts the score_date shapes FIRST publishes
// ("2023-03-12T00:00:00+0000") plus RFC 3339 and a plain date.
func parseScoreDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("score_date %q is not a date (want e.g. 2023-03-12T00:00:00+0000)", s)
}

// columns are the positions of the known columns (-1: absent).
type columns struct{ cve, epss, percentile int }

func columnsOf(header []string) (columns, error) {
	c := columns{-1, -1, -1}
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "cve":
			c.cve = i
		case "epss":
			c.epss = i
		case "percentile":
			c.percentile = i
		}
	}
	if c.cve < 0 || c.epss < 0 {
		return c, fmt.Errorf("header %q lacks the cve or epss column (want cve,epss,percentile)", strings.Join(header, ","))
	}
	return c, nil
}

// score validates one row.
func (c columns) score(rec []string, line int) (Score, *RowError) {
	s := Score{CVEID: rec[c.cve]}
	if !cve.ValidID(s.CVEID) {
		return s, &RowError{Line: line, Field: "cve", Value: s.CVEID, Err: errors.New("not a CVE ID of the form CVE-YYYY-NNNN")}
	}
	var err *RowError
	if s.Score, err = probability(rec[c.epss], "epss", line); err != nil {
		return s, err
	}
	if c.percentile >= 0 {
		if s.Percentile, err = probability(rec[c.percentile], "percentile", line); err != nil {
			return s, err
		}
	}
	return s, nil
}

// probability parses a number in [0, 1].
func probability(v, field string, line int) (float64, *RowError) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, &RowError{Line: line, Field: field, Value: v, Err: errors.New("not a number")}
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, &RowError{Line: line, Field: field, Value: v, Err: errors.New("outside [0, 1]")}
	}
	return f, nil
}

// gunzipErrors marks errors of the decompressed stream (corrupt or
// truncated gzip data) as such.
type gunzipErrors struct{ r io.Reader }

func (g gunzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("gunzip: %w", err)
	}
	return n, err
}
