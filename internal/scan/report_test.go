package scan

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/vulndb"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    Level
		wantErr bool
	}{
		{"low", LevelLow, false},
		{"MEDIUM", LevelMedium, false},
		{"moderate", LevelMedium, false},
		{" High ", LevelHigh, false},
		{"critical", LevelCritical, false},
		{"unknown", LevelUnknown, false},
		{"severe", LevelUnknown, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSeverityOf(t *testing.T) {
	critical := vulndb.Severity{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
	medium := vulndb.Severity{Type: "CVSS_V3", Score: "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"}
	tests := []struct {
		name string
		c    vulndb.Candidate
		want Severity
	}{
		{"cvss vector", vulndb.Candidate{Severity: []vulndb.Severity{medium}},
			Severity{Level: LevelMedium, Score: 5.4, Source: "cvss", Vector: medium.Score}},
		{"worst vector wins", vulndb.Candidate{Severity: []vulndb.Severity{medium, critical}},
			Severity{Level: LevelCritical, Score: 9.8, Source: "cvss", Vector: critical.Score}},
		{"affected-level vector", vulndb.Candidate{Affected: vulndb.Affected{Severity: []vulndb.Severity{critical}}},
			Severity{Level: LevelCritical, Score: 9.8, Source: "cvss", Vector: critical.Score}},
		{"database label", vulndb.Candidate{DatabaseSeverity: "MODERATE"},
			Severity{Level: LevelMedium, Source: "database_specific"}},
		{"bad vector falls back to label", vulndb.Candidate{Severity: []vulndb.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/garbage"}}, DatabaseSeverity: "HIGH"},
			Severity{Level: LevelHigh, Source: "database_specific"}},
		{"nothing", vulndb.Candidate{}, Severity{Level: LevelUnknown}},
	}
	for _, tt := range tests {
		if got := severityOf(tt.c); got != tt.want {
			t.Errorf("%s: severityOf = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestMergeAliased(t *testing.T) {
	in := []Finding{
		{AdvisoryID: "PYSEC-1", Aliases: []string{"CVE-1"}, FixedVersions: []string{"1.1"}, Severity: Severity{Level: LevelUnknown}},
		{AdvisoryID: "GHSA-1", Aliases: []string{"CVE-1"}, FixedVersions: []string{"1.2"}, Severity: Severity{Level: LevelHigh, Source: "cvss"}},
		{AdvisoryID: "PYSEC-2", Aliases: []string{"CVE-2"}},
	}
	got := mergeAliased(in)
	if len(got) != 2 {
		t.Fatalf("merged = %+v, want 2 findings", got)
	}
	m := got[0]
	if m.AdvisoryID != "GHSA-1" || !slices.Equal(m.Aliases, []string{"CVE-1", "PYSEC-1"}) ||
		!slices.Equal(m.FixedVersions, []string{"1.2", "1.1"}) || m.Severity.Level != LevelHigh {
		t.Errorf("merged finding = %+v", m)
	}
	if got[1].AdvisoryID != "PYSEC-2" {
		t.Errorf("unrelated finding = %+v", got[1])
	}
}

func TestReport(t *testing.T) {
	r := Report{
		Packages: []Package{{Name: "django", Version: "2.0.9", Ecosystem: "PyPI", Location: "Pipfile.lock"}},
		Findings: []Finding{
			{Package: Package{Name: "django", Version: "2.0.9", Ecosystem: "PyPI"}, AdvisoryID: "PYSEC-2019-17", Severity: Severity{Level: LevelHigh}},
			{Package: Package{Name: "django", Version: "2.0.9", Ecosystem: "PyPI"}, AdvisoryID: "PYSEC-2019-18", Severity: Severity{Level: LevelUnknown}},
		},
	}
	for lvl, want := range map[Level]int{LevelUnknown: 2, LevelLow: 1, LevelHigh: 1, LevelCritical: 0} {
		if got := r.CountAtLeast(lvl); got != want {
			t.Errorf("CountAtLeast(%v) = %d, want %d", lvl, got, want)
		}
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Packages []map[string]any `json:"packages"`
		Findings []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if len(decoded.Packages) != 1 || len(decoded.Findings) != 2 {
		t.Fatalf("JSON = %s", buf.String())
	}
	if sev := decoded.Findings[0]["severity"].(map[string]any)["level"]; sev != "HIGH" {
		t.Errorf("severity level = %v, want HIGH", sev)
	}

	buf.Reset()
	if err := (Report{}).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(strings.Fields(buf.String()), ""); s != `{"packages":[],"findings":[]}` {
		t.Errorf("empty report JSON = %s", s)
	}

	buf.Reset()
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "PYSEC-2019-17") || !strings.HasSuffix(out, "1 packages, 2 findings\n") {
		t.Errorf("table =\n%s", out)
	}
}
