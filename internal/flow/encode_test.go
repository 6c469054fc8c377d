package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func sampleRecords() []Record {
	out := run(Config{}, append(append([]pk{}, handshake...),
		pk{at: 10, proto: ProtoUDP, sport: 5353, hdr: 8, payload: 42},
		pk{at: 20, proto: ProtoUDP, sport: 5353, fromSrv: true, hdr: 8, payload: 77}))
	recs := make([]Record, len(out))
	for i, e := range out {
		recs[i] = e.rec
	}
	return recs
}

func TestCSVRoundTrip(t *testing.T) {
	recs := sampleRecords()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(buf.String(), "\n")
	if want := strings.Join(Header(), ","); head != want {
		t.Errorf("header = %q\nwant    %q", head, want)
	}
	r, err := NewCSVReader(&buf, "roundtrip.csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		var got Record
		if err := r.Read(&got); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if got != recs[i] {
			t.Errorf("row %d differs after CSV round trip:\n got %+v\nwant %+v", i, got, recs[i])
		}
	}
	var extra Record
	if err := r.Read(&extra); !errors.Is(err, io.EOF) {
		t.Errorf("after last row: %v, want EOF", err)
	}
}

func TestJSONLines(t *testing.T) {
	recs := sampleRecords()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	for i := range recs {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if len(m) != len(Header()) {
			t.Errorf("line %d has %d keys, want %d", i, len(m), len(Header()))
		}
		for j, c := range ValueColumns {
			if got := m[c.Name].(float64); math.Abs(got-recs[i].Values[j]) > 1e-9*math.Max(1, math.Abs(got)) {
				t.Errorf("line %d %q = %v, want %v", i, c.Name, got, recs[i].Values[j])
			}
		}
		if m["Flow ID"] != recs[i].FlowID() {
			t.Errorf("line %d Flow ID = %v, want %v", i, m["Flow ID"], recs[i].FlowID())
		}
	}
	if _, err := NewWriter(&buf, "xml"); err == nil {
		t.Error("NewWriter accepted format xml")
	}
}

func TestCSVReaderErrors(t *testing.T) {
	valid := strings.Join(Header(), ",") + "\n"
	row := func(mut func([]string)) string {
		f := make([]string, len(Header()))
		copy(f, []string{"1", "a", "10.0.0.1", "1", "10.0.0.2", "2", "6", "2017-07-06 12:39:06.818901"})
		for i := 8; i < len(f)-2; i++ {
			f[i] = "0"
		}
		f[len(f)-2], f[len(f)-1] = "BENIGN", "-1"
		mut(f)
		return strings.Join(f, ",") + "\n"
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{"ok", valid + row(func([]string) {}), ""},
		{"missing column", "id,Flow ID\n1,a\n", "lacks columns"},
		{"bad ip", valid + row(func(f []string) { f[2] = "999.1.1.1" }), `"Src IP"`},
		{"bad port", valid + row(func(f []string) { f[3] = "70000" }), `"Src Port"`},
		{"bad number", valid + row(func(f []string) { f[8] = "abc" }), `"Flow Duration"`},
		{"bad time", valid + row(func(f []string) { f[7] = "yesterday" }), `"Timestamp"`},
		{"short row", valid + "1,a,10.0.0.1\n", "fields"},
		{"empty label", valid + row(func(f []string) { f[len(f)-2] = "" }), `"Label" is empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewCSVReader(strings.NewReader(tc.in), "t.csv")
			if err == nil {
				var rec Record
				err = r.Read(&rec)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
