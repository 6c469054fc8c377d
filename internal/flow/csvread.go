package flow

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// CSVReader reads flow records from CSV files in the corrected
// CIC-IDS2017 schema (the published dataset, or Writer's csv output).
// Columns are matched by name, so their order may differ; every statistic
// column, the identifiers and Label must be present.
type CSVReader struct {
	r      *csv.Reader
	name   string
	line   int
	idx    colIndex
	fields []string
}

type colIndex struct {
	id, srcIP, srcPort, dstIP, dstPort, proto, ts, label, attempted int
	values                                                          [NumValues]int
}

// NewCSVReader reads the header of r; name is used in error messages.
func NewCSVReader(r io.Reader, name string) (*CSVReader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read CSV header: %w", name, err)
	}
	pos := make(map[string]int, len(head))
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := pos[h]; dup {
			return nil, fmt.Errorf("%s: CSV header names column %q twice", name, h)
		}
		pos[h] = i
	}
	var missing []string
	get := func(n string, optional bool) int {
		i, ok := pos[n]
		if !ok {
			if !optional {
				missing = append(missing, n)
			}
			return -1
		}
		return i
	}
	x := colIndex{
		id: get(ColID, true), srcIP: get(ColSrcIP, false), srcPort: get(ColSrcPort, false),
		dstIP: get(ColDstIP, false), dstPort: get(ColDstPort, false), proto: get(ColProtocol, false),
		ts: get(ColTimestamp, false), label: get(ColLabel, false), attempted: get(ColAttemptedCategory, true),
	}
	for i, c := range ValueColumns {
		x.values[i] = get(c.Name, false)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: CSV header lacks columns %q: expected the corrected CIC-IDS2017 header (see flow.Header)", name, missing)
	}
	return &CSVReader{r: cr, name: name, line: 1, idx: x}, nil
}

// Read parses the next row into rec. It returns io.EOF at the end. A row
// that cannot be parsed yields an error naming the file, line and column;
// the reader stays usable, so callers may skip bad rows.
func (c *CSVReader) Read(rec *Record) error {
	f, err := c.r.Read()
	c.line++
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		metricCSVRejected.Inc()
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			c.line = pe.Line
		}
		return fmt.Errorf("%s:%d: %w", c.name, c.line, err)
	}
	c.fields = f
	if err := c.parse(rec); err != nil {
		metricCSVRejected.Inc()
		return fmt.Errorf("%s:%d: %w", c.name, c.line, err)
	}
	return nil
}

func (c *CSVReader) field(i int) string {
	if i < 0 || i >= len(c.fields) {
		return ""
	}
	return strings.TrimSpace(c.fields[i])
}

func (c *CSVReader) parse(rec *Record) error {
	if n := len(c.fields); n <= c.idx.label {
		return fmt.Errorf("row has %d fields, header has more", n)
	}
	*rec = Record{AttemptedCategory: -1}
	var err error
	if s := c.field(c.idx.id); s != "" {
		if rec.ID, err = strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("column %q: %w", ColID, err)
		}
	}
	if rec.SrcIP, err = netip.ParseAddr(c.field(c.idx.srcIP)); err != nil {
		return fmt.Errorf("column %q: %w", ColSrcIP, err)
	}
	if rec.DstIP, err = netip.ParseAddr(c.field(c.idx.dstIP)); err != nil {
		return fmt.Errorf("column %q: %w", ColDstIP, err)
	}
	port := func(col string, i int) (uint16, error) {
		v, err := strconv.ParseUint(c.field(i), 10, 16)
		if err != nil {
			return 0, fmt.Errorf("column %q: %w", col, err)
		}
		return uint16(v), nil
	}
	if rec.SrcPort, err = port(ColSrcPort, c.idx.srcPort); err != nil {
		return err
	}
	if rec.DstPort, err = port(ColDstPort, c.idx.dstPort); err != nil {
		return err
	}
	p, err := strconv.ParseUint(c.field(c.idx.proto), 10, 8)
	if err != nil {
		return fmt.Errorf("column %q: %w", ColProtocol, err)
	}
	rec.Protocol = uint8(p)
	ts, err := parseTimestamp(c.field(c.idx.ts))
	if err != nil {
		return fmt.Errorf("column %q: %w", ColTimestamp, err)
	}
	rec.StartMicros = ts
	for i, col := range c.idx.values {
		s := c.field(col)
		if s == "" {
			return fmt.Errorf("column %q is empty", ValueColumns[i].Name)
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("column %q: %w", ValueColumns[i].Name, err)
		}
		rec.Values[i] = v
	}
	rec.Label = c.field(c.idx.label)
	if rec.Label == "" {
		return fmt.Errorf("column %q is empty", ColLabel)
	}
	if s := c.field(c.idx.attempted); s != "" {
		a, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("column %q: %w", ColAttemptedCategory, err)
		}
		rec.AttemptedCategory = a
	}
	return nil
}

var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
	"02/01/2006 15:04:05",
	"2/1/2006 15:04",
	time.RFC3339Nano,
}

func parseTimestamp(s string) (int64, error) {
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixMicro(), nil
		}
	}
	return 0, fmt.Errorf("timestamp %q: want YYYY-MM-DD hh:mm:ss[.ffffff]", s)
}
