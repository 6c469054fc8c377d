package hubble

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary lines to the decoder: it must return a flow
// or an error, never panic, and a flow it returns has a time. The same
// bytes through a Reader must give the same outcome.
func FuzzParse(f *testing.F) {
	if in, err := os.Open(filepath.Join("testdata", "export.jsonl")); err == nil {
		sc := bufio.NewScanner(in)
		sc.Buffer(nil, MaxLineSize)
		for sc.Scan() {
			f.Add(append([]byte(nil), sc.Bytes()...))
		}
		in.Close()
	}
	f.Add([]byte(`{"flow":{"time":"2024-01-02T03:04:05Z","verdict":7,"l7":{"type":"RESPONSE","dns":{"rcode":3}},"is_reply":null}}`))
	f.Add([]byte(`{"verdict":"DROPPED","time":"2024-01-02T03:04:05Z","IP":{"source":"::ffff:1.2.3.4"}}`))
	f.Add([]byte(`{"flow":null,"lost_events":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fl, err := Parse(line)
		if err == nil && fl.Time.IsZero() {
			t.Fatalf("flow without time from %q", line)
		}
		if strings.ContainsRune(string(line), '\n') {
			return
		}
		r := NewReader(strings.NewReader(string(line)))
		got, rerr := r.Next()
		switch {
		case err == nil && (rerr != nil || got == nil):
			t.Fatalf("Parse accepted %q, Reader: %v", line, rerr)
		case errors.Is(err, ErrNotFlow) && !errors.Is(rerr, io.EOF):
			t.Fatalf("Parse: not a flow; Reader: %v", rerr)
		}
	})
}
