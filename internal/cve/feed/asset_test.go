package feed

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseAssetName(t *testing.T) {
	tests := []struct {
		name     string
		ok       bool
		kind     AssetKind
		at       time.Time
		endOfDay bool
	}{
		{"2024-10-22_all_CVEs_at_midnight.zip.zip", true, Baseline, day("2024-10-22"), false},
		{"2024-10-22_all_CVEs_at_midnight.zip", true, Baseline, day("2024-10-22"), false},
		{"2024-10-22_delta_CVEs_at_0813Z.zip", true, Delta, day("2024-10-22").Add(8*time.Hour + 13*time.Minute), false},
		{"2024-10-22_delta_CVEs_at_end_of_day.zip", true, Delta, day("2024-10-23"), true},
		{"2024-10-22_delta_CVEs_at_2513Z.zip", false, 0, time.Time{}, false},
		{"2024-13-22_all_CVEs_at_midnight.zip", false, 0, time.Time{}, false},
		{"2024-10-22_all_CVEs_at_midnight.tar.gz", false, 0, time.Time{}, false},
		{"../2024-10-22_delta_CVEs_at_0813Z.zip", false, 0, time.Time{}, false},
		{"cves.zip", false, 0, time.Time{}, false},
	}
	for _, tt := range tests {
		a, ok := ParseAssetName(tt.name)
		if ok != tt.ok {
			t.Errorf("ParseAssetName(%q) ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if ok && (a.Kind != tt.kind || !a.Time.Equal(tt.at) || a.EndOfDay != tt.endOfDay) {
			t.Errorf("ParseAssetName(%q) = %v %v eod=%v, want %v %v eod=%v", tt.name, a.Kind, a.Time, a.EndOfDay, tt.kind, tt.at, tt.endOfDay)
		}
	}
}

func assets(names ...string) []Asset {
	out := make([]Asset, 0, len(names))
	for _, n := range names {
		a, ok := ParseAssetName(n)
		if !ok {
			panic(n)
		}
		out = append(out, a)
	}
	return out
}

func TestPlan(t *testing.T) {
	const (
		b22   = "2024-10-22_all_CVEs_at_midnight.zip.zip"
		b23   = "2024-10-23_all_CVEs_at_midnight.zip.zip"
		d2201 = "2024-10-22_delta_CVEs_at_0100Z.zip"
		d2202 = "2024-10-22_delta_CVEs_at_0200Z.zip"
		d22e  = "2024-10-22_delta_CVEs_at_end_of_day.zip"
		d2301 = "2024-10-23_delta_CVEs_at_0100Z.zip"
		d2302 = "2024-10-23_delta_CVEs_at_0200Z.zip"
		d2501 = "2024-10-25_delta_CVEs_at_0100Z.zip"
	)
	pos := func(name string) *Position {
		a, _ := ParseAssetName(name)
		return &Position{Asset: name, AssetTime: a.Time}
	}
	tests := []struct {
		name       string
		listed     []string
		pos        *Position
		everyDelta bool
		want       []string
		gap        bool
		err        error
	}{
		{"first run: newest baseline then newest delta per day",
			[]string{d2302, b23, d2301, d22e, d2202, b22, d2201, b22}, nil, false, []string{b23, d2302}, false, nil},
		{"first run, every delta",
			[]string{d2302, b22, d2301, d2201, d2202}, nil, true, []string{b22, d2201, d2202, d2301, d2302}, false, nil},
		{"first run without baseline", []string{d2201}, nil, false, nil, false, ErrNoBaseline},
		{"nothing new", []string{b22, d2201, d2202}, pos(d2202), false, nil, false, nil},
		{"deltas past the position, no gap",
			[]string{b22, d2201, d2202, d22e, b23, d2301, d2302}, pos(d2201), false, []string{d22e, d2302}, false, nil},
		{"position on end of day, next day's deltas",
			[]string{b23, d2301, d2302}, pos(d22e), true, []string{d2301, d2302}, false, nil},
		{"gap: rest of the day missing, newer baseline",
			[]string{b22, d2201, b23, d2301, d2302}, pos(d2201), false, []string{b23, d2302}, false, nil},
		{"gap without a newer baseline is reported",
			[]string{b22, d2201, d2501}, pos(d2201), false, []string{d2501}, true, nil},
		{"position on a baseline, its day's deltas",
			[]string{b22, d2201, d2202}, pos(b22), false, []string{d2202}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gap, err := plan(assets(tt.listed...), tt.pos, tt.everyDelta)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			var names []string
			for _, a := range got {
				names = append(names, a.Name)
			}
			if !reflect.DeepEqual(names, tt.want) || gap != tt.gap {
				t.Errorf("plan = %v gap=%v, want %v gap=%v", names, gap, tt.want, tt.gap)
			}
		})
	}
}

func TestRecordID(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"cves/2024/10xxx/CVE-2024-10280.json", "", "CVE-2024-10280"},
		{"deltaCves/CVE-1999-0001.json", "not json", "CVE-1999-0001"},
		{"record.json", `{"cveMetadata":{"cveId":"CVE-2023-1234"}}`, "CVE-2023-1234"},
		{"cves/delta.json", `{"fetchTime":"x","new":[]}`, ""},
		{"cves/deltaLog.json", `[]`, ""},
		{"weird.json", `{"cveMetadata":{"cveId":"GHSA-xxxx"}}`, ""},
	}
	for _, tt := range tests {
		if got := RecordID(tt.name, []byte(tt.data)); got != tt.want {
			t.Errorf("RecordID(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
