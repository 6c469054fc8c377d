package flow

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// Writer writes flow records in one output format.
type Writer interface {
	// Write appends one record.
	Write(r *Record) error
	// Flush writes buffered data to the underlying writer.
	Flush() error
}

// NewWriter returns a Writer for format "csv" (the corrected CIC-IDS2017
// header, then one row per flow) or "json" (one JSON object per line,
// keyed by the same column names).
func NewWriter(w io.Writer, format string) (Writer, error) {
	switch format {
	case "csv":
		return &csvWriter{w: bufio.NewWriterSize(w, 64<<10)}, nil
	case "json":
		return &jsonWriter{w: bufio.NewWriterSize(w, 64<<10)}, nil
	}
	return nil, fmt.Errorf("output format %q is not supported: use csv or json", format)
}

type csvWriter struct {
	w           *bufio.Writer
	buf         []byte
	wroteHeader bool
}

func (c *csvWriter) Write(r *Record) error {
	if !c.wroteHeader {
		c.wroteHeader = true
		for i, h := range Header() {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.buf = appendCSVField(c.buf, h)
		}
		c.buf = append(c.buf, '\n')
	}
	b := strconv.AppendInt(c.buf, r.ID, 10)
	b = append(b, ',')
	b = r.appendFlowID(b)
	b = append(b, ',')
	b = r.SrcIP.AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.SrcPort), 10)
	b = append(b, ',')
	b = r.DstIP.AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.DstPort), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Protocol), 10)
	b = append(b, ',')
	b = r.Start().AppendFormat(b, TimestampLayout)
	for i, v := range r.Values {
		b = append(b, ',')
		b = appendValue(b, i, v)
	}
	b = append(b, ',')
	b = appendCSVField(b, r.Label)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.AttemptedCategory), 10)
	b = append(b, '\n')
	_, err := c.w.Write(b)
	c.buf = b[:0]
	if err != nil {
		return fmt.Errorf("write flow CSV row: %w", err)
	}
	return nil
}

func (c *csvWriter) Flush() error {
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("flush flow CSV: %w", err)
	}
	return nil
}

// appendCSVField quotes s when it contains a separator, quote or newline.
func appendCSVField(b []byte, s string) []byte {
	needs := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			needs = true
			break
		}
	}
	if !needs {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

type jsonWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (j *jsonWriter) Write(r *Record) error {
	b := append(j.buf, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"Flow ID":"`...)
	b = r.appendFlowID(b)
	b = append(b, `","Src IP":"`...)
	b = r.SrcIP.AppendTo(b)
	b = append(b, `","Src Port":`...)
	b = strconv.AppendUint(b, uint64(r.SrcPort), 10)
	b = append(b, `,"Dst IP":"`...)
	b = r.DstIP.AppendTo(b)
	b = append(b, `","Dst Port":`...)
	b = strconv.AppendUint(b, uint64(r.DstPort), 10)
	b = append(b, `,"Protocol":`...)
	b = strconv.AppendUint(b, uint64(r.Protocol), 10)
	b = append(b, `,"Timestamp":"`...)
	b = r.Start().AppendFormat(b, TimestampLayout)
	b = append(b, '"')
	for i, v := range r.Values {
		b = append(b, ',')
		b = strconv.AppendQuote(b, ValueColumns[i].Name)
		b = append(b, ':')
		if v != v || v > 1e308 || v < -1e308 { // NaN and ±Inf are not JSON
			b = append(b, "null"...)
			continue
		}
		b = appendValue(b, i, v)
	}
	b = append(b, `,"Label":`...)
	b = strconv.AppendQuote(b, r.Label)
	b = append(b, `,"Attempted Category":`...)
	b = strconv.AppendInt(b, int64(r.AttemptedCategory), 10)
	b = append(b, "}\n"...)
	_, err := j.w.Write(b)
	j.buf = b[:0]
	if err != nil {
		return fmt.Errorf("write flow JSON line: %w", err)
	}
	return nil
}

func (j *jsonWriter) Flush() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("flush flow JSON: %w", err)
	}
	return nil
}
