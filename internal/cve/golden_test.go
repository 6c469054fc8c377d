package cve

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenArchiveIDs are real records cut from the vulnrichment snapshot at
// test time, each chosen for a feature:
var goldenArchiveIDs = []string{
	"CVE-2021-46174", // CISA-ADP affected with CPEs, CVE Program references
	"CVE-2024-7826",  // CVSS v2.0 next to v3.x and v4.0
	"CVE-2024-32896", // CISA-ADP KEV, CVSS 3.1 and CWE added by CISA-ADP
	"CVE-2024-3514",  // REJECTED, dataVersion 5.0
	"CVE-2024-1342",  // REJECTED, dataVersion 5.1
	"CVE-2022-28654", // packageName / collectionURL affected entry
	"CVE-2024-33386", // timestamps without a zone
	"CVE-2024-9671",  // "Red Hat severity rating" other metric
	"CVE-2023-34424", // cvssV3_1 and cvssV4_0 in one metrics entry
	"CVE-2023-34992", // SSVC timestamp with a +00:00 offset
}

// TestParseGolden compares parsed records with the expected Record JSON in
// testdata/golden/<ID>.json. Run with -update to rewrite them after an
// intended change, and review the diff.
func TestParseGolden(t *testing.T) {
	inputs := loadRecords(t, goldenArchiveIDs...)
	hand, err := filepath.Glob("testdata/records/*.json")
	if err != nil || len(hand) == 0 {
		t.Fatalf("no hand-written records in testdata/records: %v", err)
	}
	for _, p := range hand {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(p[:len(p)-len(".json")])] = data
	}
	for id, data := range inputs {
		t.Run(id, func(t *testing.T) {
			rec, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if rec.ID != id {
				t.Errorf("ID = %s, want %s", rec.ID, id)
			}
			if !bytes.Equal(rec.Raw, data) {
				t.Errorf("Raw is not the input")
			}
			got, err := json.MarshalIndent(rec, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", id+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -run TestParseGolden -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("parsed record differs from %s; got:\n%s", path, got)
			}
		})
	}
}
