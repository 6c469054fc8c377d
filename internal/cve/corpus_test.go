package cve

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// corpusCounts are facts about the corpus, counted once by the parser and
// once by an independent generic walk of the JSON.
type corpusCounts struct {
	Records, Rejected                    int
	WithSSVC, WithKEV                    int // CISA-ADP ssvc / kev metrics
	WithCVSS31, WithCVSS40               int // records with at least one
	CVSS20, CVSS30, CVSS31, CVSS40       int // metrics, all containers
	References, Affected, ProblemEntries int
	OtherMetrics                         int
}

// genericCounts counts corpus facts with a map[string]any walk, without
// the parser.
func genericCounts(tb testing.TB, data []byte, c *corpusCounts) {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatalf("generic decode: %v", err)
	}
	obj := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	arr := func(v any) []any { a, _ := v.([]any); return a }
	c.Records++
	if obj(doc["cveMetadata"])["state"] == "REJECTED" {
		c.Rejected++
	}
	containers := obj(doc["containers"])
	all := []map[string]any{obj(containers["cna"])}
	for _, a := range arr(containers["adp"]) {
		all = append(all, obj(a))
	}
	var has31, has40, ssvc, kev bool
	for _, ct := range all {
		c.References += len(arr(ct["references"]))
		c.Affected += len(arr(ct["affected"]))
		for _, pt := range arr(ct["problemTypes"]) {
			c.ProblemEntries += len(arr(obj(pt)["descriptions"]))
		}
		cisa := obj(ct["providerMetadata"])["shortName"] == "CISA-ADP"
		for _, m := range arr(ct["metrics"]) {
			mm := obj(m)
			for k := range mm {
				switch k {
				case "cvssV2_0":
					c.CVSS20++
				case "cvssV3_0":
					c.CVSS30++
				case "cvssV3_1":
					c.CVSS31++
					has31 = true
				case "cvssV4_0":
					c.CVSS40++
					has40 = true
				case "other":
					c.OtherMetrics++
					t := obj(mm["other"])["type"]
					ssvc = ssvc || cisa && t == "ssvc"
					kev = kev || cisa && t == "kev"
				}
			}
		}
	}
	c.WithCVSS31 += b2i(has31)
	c.WithCVSS40 += b2i(has40)
	c.WithSSVC += b2i(ssvc)
	c.WithKEV += b2i(kev)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parsedCounts counts the same facts from a parsed Record.
func parsedCounts(r *Record, c *corpusCounts) {
	c.Records++
	c.Rejected += b2i(r.State == StateRejected)
	c.WithSSVC += b2i(r.SSVC != nil)
	c.WithKEV += b2i(r.KEV != nil)
	c.References += len(r.References)
	c.Affected += len(r.Affected)
	c.ProblemEntries += len(r.Problems)
	var has31, has40 bool
	for _, m := range r.Metrics {
		if m.Format == FormatOther {
			c.OtherMetrics++
			continue
		}
		switch m.Version {
		case CVSSv20:
			c.CVSS20++
		case CVSSv30:
			c.CVSS30++
		case CVSSv31:
			c.CVSS31++
			has31 = true
		case CVSSv40:
			c.CVSS40++
			has40 = true
		}
	}
	c.WithCVSS31 += b2i(has31)
	c.WithCVSS40 += b2i(has40)
}

// TestParseCorpus parses every record of the vulnrichment snapshot and
// checks that the parser finds what an independent generic walk finds,
// that IDs and dates are consistent, and reports how often the computed
// CVSS base score disagrees with the score written in the record.
func TestParseCorpus(t *testing.T) {
	var want, got corpusCounts
	var vectorErrors, disagree, disagreeTemporal int
	examples := map[string][]string{}
	disagreeBy := map[string]int{}
	failures := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		if failures++; failures == 20 {
			t.Fatal("too many failures, giving up")
		}
	}
	walkRecords(t, func(name string, data []byte) bool {
		genericCounts(t, data, &want)
		rec, err := Parse(data)
		if err != nil {
			fail("%s: %v", name, err)
			return true
		}
		parsedCounts(rec, &got)
		if !strings.HasSuffix(name, "/"+rec.ID+".json") {
			fail("%s: parsed ID %s does not match the file name", name, rec.ID)
		}
		if id, err := PeekID(data); err != nil || id != rec.ID {
			fail("%s: PeekID = %q, %v; Parse ID %q", name, id, err, rec.ID)
		}
		if rec.DateUpdated.IsZero() || rec.DateUpdatedRaw == "" {
			fail("%s: no dateUpdated", name)
		}
		if rec.State == StatePublished && rec.EnglishDescription() == "" {
			fail("%s: published record without a description", name)
		}
		for _, m := range rec.Metrics {
			if m.Format != FormatCVSS {
				continue
			}
			if m.Error != "" {
				vectorErrors++
				if len(examples["error"]) < 5 {
					examples["error"] = append(examples["error"], rec.ID+" "+m.Error)
				}
				continue
			}
			if math.Abs(m.BaseScore-m.ReportedScore) > 0.05 {
				disagree++
				key := "v" + m.Version
				if hasTemporal(m.Vector) {
					// The reported score is often the temporal (v3) or
					// CVSS-BT (v4) score, not the base score.
					disagreeTemporal++
					key += "-temporal"
				}
				disagreeBy[key]++
				if len(examples[key]) < 3 {
					examples[key] = append(examples[key], rec.ID+" "+m.Source+" "+m.Vector+
						" computed "+ftoa(m.BaseScore)+" reported "+ftoa(m.ReportedScore))
				}
			}
		}
		return true
	})
	if got != want {
		t.Errorf("parser counts differ from generic walk:\n got %+v\nwant %+v", got, want)
	}
	// The data README documents these two facts of the snapshot.
	if want.Records != 44130 || want.Rejected != 104 {
		t.Errorf("snapshot has %d records, %d rejected; want 44130 and 104", want.Records, want.Rejected)
	}
	// Every vector in the snapshot is well-formed, and a scorer that
	// agreed with fewer than 98% of the reported scores would be broken
	// (the disagreements are wrong reported scores, see the log).
	if vectorErrors != 0 {
		t.Errorf("%d CVSS vectors could not be scored", vectorErrors)
	}
	if total := got.CVSS20 + got.CVSS30 + got.CVSS31 + got.CVSS40; disagree*50 > total {
		t.Errorf("computed score disagrees with the reported one for %d of %d metrics", disagree, total)
	}
	t.Logf("counts: %+v", got)
	t.Logf("CVSS vectors that could not be scored: %d; computed base score differs from reported by > 0.05: %d (%d of them with temporal/threat metrics in the vector)",
		vectorErrors, disagree, disagreeTemporal)
	t.Logf("disagreements by version: %v", disagreeBy)
	for k, ex := range examples {
		for _, e := range ex {
			t.Logf("  %s: %s", k, e)
		}
	}
}

// hasTemporal reports whether a CVSS vector carries temporal (v2/v3) or
// threat (v4) metrics.
func hasTemporal(vector string) bool {
	return strings.Contains(vector, "/E:") || strings.Contains(vector, "/RL:") || strings.Contains(vector, "/RC:")
}

func ftoa(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
