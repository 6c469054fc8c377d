package scan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateSARIF = flag.Bool("update-sarif", false, "rewrite testdata/golden/report.sarif")

func TestWriteSARIF(t *testing.T) {
	rep := Report{Findings: []Finding{
		{
			Package:       Package{Name: "django", Version: "2.0.9", Ecosystem: "PyPI", Location: "app/Pipfile.lock"},
			AdvisoryID:    "PYSEC-2019-17",
			Aliases:       []string{"CVE-2019-6975", "GHSA-wh4h-v3f2-r2pp"},
			Summary:       "Uncontrolled memory consumption in Django",
			FixedVersions: []string{"2.0.11"},
			Severity:      Severity{Level: LevelHigh, Score: 7.5, Source: "cvss"},
		},
		{
			Package:    Package{Name: "musl", Version: "1.1.22-r3", Ecosystem: "Alpine:v3.10", Origin: "musl", Location: "lib/apk/db/installed", Layer: "sha256:abc"},
			AdvisoryID: "ALPINE-CVE-2019-14697",
			Severity:   Severity{Level: LevelCritical},
		},
		{
			// A second package with the same advisory shares its rule.
			Package:    Package{Name: "django", Version: "2.0.9", Ecosystem: "PyPI", Location: "other/Pipfile.lock"},
			AdvisoryID: "PYSEC-2019-17",
			Severity:   Severity{Level: LevelHigh, Score: 7.5, Source: "cvss"},
		},
		{
			Package:    Package{Name: "x", Version: "1", Ecosystem: "npm"},
			AdvisoryID: "GHSA-low",
			Severity:   Severity{Level: LevelLow},
		},
	}}
	var buf bytes.Buffer
	if err := rep.WriteSARIF(&buf, "test"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden", "report.sarif")
	if *updateSARIF {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-sarif to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("SARIF output differs from %s:\n%s", golden, buf.String())
	}
}
