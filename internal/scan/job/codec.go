package job

import (
	"encoding/json"
	"fmt"

	"github.com/kubeward/kubeward/internal/scan"
)

// The scanner's types encode severities by name (scan.Level implements
// encoding.TextMarshaler) but cannot decode them: scan.Level has no
// UnmarshalText. The wire types below shadow the level fields with
// strings so stored and published findings read back; they can go once
// scan.Level implements encoding.TextUnmarshaler.

type wireFinding struct {
	scan.Finding
	Severity   wireSeverity    `json:"severity"`
	Enrichment *wireEnrichment `json:"enrichment,omitempty"`
}

type wireSeverity struct {
	Level  string  `json:"level"`
	Score  float64 `json:"score,omitempty"`
	Source string  `json:"source,omitempty"`
	Vector string  `json:"vector,omitempty"`
}

type wireEnrichment struct {
	scan.Enrichment
	CVSS []wireCVSS `json:"cvss,omitempty"`
}

type wireCVSS struct {
	scan.CVSS
	Level string `json:"level"`
}

// parseLevel reads a stored level; an empty one is LevelUnknown.
func parseLevel(s string) (scan.Level, error) {
	if s == "" {
		return scan.LevelUnknown, nil
	}
	return scan.ParseLevel(s)
}

// finding converts the wire form back.
func (w wireFinding) finding() (scan.Finding, error) {
	f := w.Finding
	lvl, err := parseLevel(w.Severity.Level)
	if err != nil {
		return scan.Finding{}, fmt.Errorf("finding %s: %w", f.AdvisoryID, err)
	}
	f.Severity = scan.Severity{Level: lvl, Score: w.Severity.Score, Source: w.Severity.Source, Vector: w.Severity.Vector}
	f.Enrichment = nil
	if w.Enrichment != nil {
		e := w.Enrichment.Enrichment
		e.CVSS = nil
		for _, c := range w.Enrichment.CVSS {
			cv := c.CVSS
			if cv.Level, err = parseLevel(c.Level); err != nil {
				return scan.Finding{}, fmt.Errorf("finding %s: CVSS of %s: %w", f.AdvisoryID, cv.CVE, err)
			}
			e.CVSS = append(e.CVSS, cv)
		}
		f.Enrichment = &e
	}
	return f, nil
}

// DecodeFinding reads a finding encoded with encoding/json (as stores keep
// them).
func DecodeFinding(b []byte) (scan.Finding, error) {
	var w wireFinding
	if err := json.Unmarshal(b, &w); err != nil {
		return scan.Finding{}, fmt.Errorf("decode finding: %w", err)
	}
	return w.finding()
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *FindingMessage) UnmarshalJSON(b []byte) error {
	type plain FindingMessage
	var w struct {
		plain
		Finding wireFinding `json:"finding"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	f, err := w.Finding.finding()
	if err != nil {
		return err
	}
	*m = FindingMessage(w.plain)
	m.Finding = f
	return nil
}
