package epss

// No real EPSS file is available offline. Every file in these tests is
// SYNTHETIC: generated here with made-up CVE IDs and pseudo-random scores
// in the published format. The values mean nothing.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// syntheticRow is one made-up score.
type syntheticRow struct {
	id               string
	score, percentil float64
}

// syntheticRows returns n deterministic made-up scores.
func syntheticRows(n int) []syntheticRow {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]syntheticRow, n)
	for i := range rows {
		rows[i] = syntheticRow{
			id:        fmt.Sprintf("CVE-%d-%04d", 1999+i%26, 1000+i),
			score:     float64(rng.IntN(100000)) / 100000,
			percentil: float64(rng.IntN(100000)) / 100000,
		}
	}
	return rows
}

const syntheticComment = "#model_version:v2023.03.01,score_date:2023-03-12T00:00:00+0000\n"

// syntheticFile renders rows in the FIRST layout.
func syntheticFile(comment string, rows []syntheticRow) []byte {
	var b bytes.Buffer
	b.WriteString(comment)
	b.WriteString("cve,epss,percentile\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%.5f,%.5f\n", r.id, r.score, r.percentil)
	}
	return b.Bytes()
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func collect(t *testing.T, rd Reader, data []byte) ([]Score, Meta, error) {
	t.Helper()
	var got []Score
	meta, err := rd.Read(bytes.NewReader(data), func(s Score) error {
		got = append(got, s)
		return nil
	})
	return got, meta, err
}

// TestReadSyntheticPlainAndGzip reads the same synthetic file plain and
// gzipped and checks every score against the generated values.
func TestReadSyntheticPlainAndGzip(t *testing.T) {
	rows := syntheticRows(5000)
	plain := syntheticFile(syntheticComment, rows)
	wantDate := time.Date(2023, 3, 12, 0, 0, 0, 0, time.UTC)
	for name, data := range map[string][]byte{"plain": plain, "gzip": gzipped(t, plain)} {
		t.Run(name, func(t *testing.T) {
			got, meta, err := collect(t, Reader{}, data)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Compressed != (name == "gzip") || meta.ModelVersion != "v2023.03.01" || !meta.ScoreDate.Equal(wantDate) ||
				meta.Rows != len(rows) || meta.BadRows != 0 {
				t.Errorf("meta = %+v", meta)
			}
			if len(got) != len(rows) {
				t.Fatalf("%d scores, want %d", len(got), len(rows))
			}
			for i, s := range got {
				r := rows[i]
				if s.CVEID != r.id || s.Score != r.score || s.Percentile != r.percentil ||
					!s.Date.Equal(wantDate) || s.ModelVersion != "v2023.03.01" {
					t.Fatalf("score %d = %+v, want %+v", i, s, r)
				}
			}
		})
	}
}

// TestReadSyntheticLayouts covers header variants seen across EPSS
// history, on synthetic rows.
func TestReadSyntheticLayouts(t *testing.T) {
	tests := []struct {
		name, in string
		rd       Reader
		want     []Score
		model    string
		date     time.Time
	}{
		{"no comment, date from Reader", "cve,epss,percentile\nCVE-2021-0001,0.5,0.75\n", Reader{ScoreDate: time.Date(2021, 4, 14, 0, 0, 0, 0, time.UTC)},
			[]Score{{CVEID: "CVE-2021-0001", Score: 0.5, Percentile: 0.75, Date: time.Date(2021, 4, 14, 0, 0, 0, 0, time.UTC)}}, "", time.Date(2021, 4, 14, 0, 0, 0, 0, time.UTC)},
		{"no percentile column", "cve,epss\nCVE-2021-0001,0.5\n", Reader{},
			[]Score{{CVEID: "CVE-2021-0001", Score: 0.5}}, "", time.Time{}},
		{"columns reordered, CRLF, BOM", "\ufeff#model_version:v1,score_date:2022-01-02\r\npercentile,cve,epss\r\n1,CVE-2021-0001,0\r\n", Reader{},
			[]Score{{CVEID: "CVE-2021-0001", Score: 0, Percentile: 1, Date: time.Date(2022, 1, 2, 0, 0, 0, 0, time.UTC), ModelVersion: "v1"}}, "v1", time.Date(2022, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"RFC 3339 score_date, unknown key", "#score_date:2024-05-06T07:08:09Z,foo:bar\ncve,epss,percentile\n", Reader{},
			nil, "", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)},
		{"exponent notation", "cve,epss,percentile\nCVE-2021-0001,4e-05,1.0E-1\n", Reader{},
			[]Score{{CVEID: "CVE-2021-0001", Score: 4e-05, Percentile: 0.1}}, "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, meta, err := collect(t, tt.rd, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("scores = %+v, want %+v", got, tt.want)
			}
			if meta.ModelVersion != tt.model || !meta.ScoreDate.Equal(tt.date) {
				t.Errorf("meta = %+v", meta)
			}
		})
	}
}

// TestReadSyntheticBadRows checks line-numbered errors on synthetic bad
// rows, in both stop and skip modes.
func TestReadSyntheticBadRows(t *testing.T) {
	const head = syntheticComment + "cve,epss,percentile\n" // rows start on line 3
	tests := []struct {
		name, row string
		field     string
		message   string
	}{
		{"bad id", "CVE-21-1,0.1,0.2", "cve", "not a CVE ID"},
		{"empty id", ",0.1,0.2", "cve", ""},
		{"score above 1", "CVE-2021-0001,1.5,0.2", "epss", "outside [0, 1]"},
		{"negative percentile", "CVE-2021-0001,0.1,-0.2", "percentile", "outside"},
		{"NaN", "CVE-2021-0001,NaN,0.2", "epss", "outside"},
		{"Inf", "CVE-2021-0001,0.1,+Inf", "percentile", "outside"},
		{"not a number", "CVE-2021-0001,high,0.2", "epss", "not a number"},
		{"too few fields", "CVE-2021-0001,0.1", "", "wrong number of fields"},
		{"too many fields", "CVE-2021-0001,0.1,0.2,0.3", "", "wrong number of fields"},
		{"bare quote", `CVE-2021-0001,0"1,0.2`, "", "bare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := head + "CVE-2020-0001,0.1,0.2\n" + tt.row + "\nCVE-2020-0002,0.3,0.4\n"
			// Stop mode: one score, then the error on line 4.
			got, meta, err := collect(t, Reader{}, []byte(in))
			var re *RowError
			if !errors.As(err, &re) || !errors.Is(err, ErrBadRow) {
				t.Fatalf("error = %v, want a *RowError", err)
			}
			if re.Line != 4 || re.Field != tt.field || !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), "line 4") {
				t.Errorf("error = %v (line %d field %q), want line 4 field %q containing %q", err, re.Line, re.Field, tt.field, tt.message)
			}
			if len(got) != 1 || meta.Rows != 1 {
				t.Errorf("stop mode passed %d scores, want 1", len(got))
			}
			// Skip mode: both good rows, one bad row counted.
			got, meta, err = collect(t, Reader{SkipBadRows: true}, []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || meta.Rows != 2 || meta.BadRows != 1 || len(meta.Errors) != 1 || meta.Errors[0].Line != 4 {
				t.Errorf("skip mode: %d scores, meta %+v", len(got), meta)
			}
		})
	}
}

func TestReadSyntheticMaxBadRows(t *testing.T) {
	in := "cve,epss\nx,1\ny,1\nCVE-2020-0001,0.5\nz,1\n"
	_, meta, err := collect(t, Reader{SkipBadRows: true, MaxBadRows: 2}, []byte(in))
	if !errors.Is(err, ErrTooManyBadRows) || meta.BadRows != 3 || meta.Rows != 1 {
		t.Errorf("err = %v, meta = %+v", err, meta)
	}
	var re *RowError
	if !errors.As(err, &re) || re.Line != 5 {
		t.Errorf("last bad row = %+v, want line 5", re)
	}
}

func TestReadBadHeader(t *testing.T) {
	tests := []struct{ name, in, message string }{
		{"empty", "", "no header"},
		{"comment only", syntheticComment, "no header"},
		{"no epss column", "cve,score\nCVE-2020-0001,0.5\n", "lacks the cve or epss column"},
		{"bad score_date", "#model_version:v1,score_date:yesterday\ncve,epss\n", "score_date"},
		{"broken gzip header", "\x1f\x8bgarbage", "gzip"},
		{"broken gzip data", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffgarbage", "gunzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := collect(t, Reader{}, []byte(tt.in))
			if !errors.Is(err, ErrBadHeader) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %v, want ErrBadHeader containing %q", err, tt.message)
			}
		})
	}
}

// TestReadSyntheticTruncatedGzip checks that a gzip stream cut short is
// an error, not a silently short read.
func TestReadSyntheticTruncatedGzip(t *testing.T) {
	gz := gzipped(t, syntheticFile(syntheticComment, syntheticRows(2000)))
	_, _, err := collect(t, Reader{SkipBadRows: true}, gz[:len(gz)/2])
	if err == nil || errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), "gunzip") {
		t.Errorf("error = %v, want a read error", err)
	}
}

func TestReadCallbackError(t *testing.T) {
	stop := errors.New("store is down")
	n := 0
	meta, err := Read(bytes.NewReader(syntheticFile(syntheticComment, syntheticRows(10))), func(Score) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || meta.Rows != 2 || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("err = %v, meta = %+v", err, meta)
	}
}
