package cve

import (
	"errors"
	"fmt"
	"math"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// CVSS versions as Metric.Version spells them.
const (
	CVSSv20 = "2.0"
	CVSSv30 = "3.0"
	CVSSv31 = "3.1"
	CVSSv40 = "4.0"
)

// Metric formats as Metric.Format spells them.
const (
	// FormatCVSS marks a CVSS metric (any of cvssV2_0, cvssV3_0, cvssV3_1,
	// cvssV4_0).
	FormatCVSS = "CVSS"
	// FormatOther marks a metrics[].other entry; Metric.Version then holds
	// other.type (e.g. "ssvc", "kev", "Red Hat severity rating").
	FormatOther = "other"
)

// errScoreOutOfRange is returned for scores outside [0, 10].
var errScoreOutOfRange = errors.New("score out of range [0, 10]")

// v4NonBase are the CVSS v4.0 threat and environmental metrics. They are
// reset to Not Defined (X) before scoring so that the computed score is the
// CVSS-B base score, which is what a record's baseScore states.
var v4NonBase = []string{
	"E", "CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI",
	"MVC", "MVI", "MVA", "MSC", "MSI", "MSA",
}

// ScoreCVSS computes the base score and severity rating of a CVSS vector of
// the given version ("2.0", "3.0", "3.1" or "4.0") with
// github.com/pandatix/go-cvss.
//
// For v4.0 the threat and environmental metrics in the vector are ignored
// (the CVSS-B score). CVSS v2.0 defines no qualitative rating; NVD's v2
// ranges are used: LOW below 4.0, MEDIUM below 7.0, HIGH from 7.0.
func ScoreCVSS(version, vector string) (score float64, severity string, err error) {
	switch version {
	case CVSSv20:
		// Some producers wrap v2 vectors in parentheses or prefix them
		// with the NVD-style "CVSS:2.0/"; the base metrics are the same.
		v := strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(vector, "("), ")"), "CVSS:2.0/")
		c, perr := gocvss20.ParseVector(v)
		if perr != nil {
			return 0, "", fmt.Errorf("CVSS v2.0 vector %q: %w", vector, perr)
		}
		score = c.BaseScore()
	case CVSSv30:
		c, perr := gocvss30.ParseVector(vector)
		if perr != nil {
			return 0, "", fmt.Errorf("CVSS v3.0 vector %q: %w", vector, perr)
		}
		score = c.BaseScore()
	case CVSSv31:
		c, perr := gocvss31.ParseVector(vector)
		if perr != nil {
			return 0, "", fmt.Errorf("CVSS v3.1 vector %q: %w", vector, perr)
		}
		score = c.BaseScore()
	case CVSSv40:
		c, perr := gocvss40.ParseVector(vector)
		if perr != nil {
			return 0, "", fmt.Errorf("CVSS v4.0 vector %q: %w", vector, perr)
		}
		for _, m := range v4NonBase {
			if serr := c.Set(m, "X"); serr != nil {
				return 0, "", fmt.Errorf("CVSS v4.0 vector %q: reset %s: %w", vector, m, serr)
			}
		}
		score = c.Score()
	default:
		return 0, "", fmt.Errorf("unknown CVSS version %q (want 2.0, 3.0, 3.1 or 4.0)", version)
	}
	severity, err = Severity(version, score)
	if err != nil {
		return 0, "", fmt.Errorf("CVSS v%s vector %q: %w", version, vector, err)
	}
	return score, severity, nil
}

// Severity returns the qualitative rating of a CVSS score of the given
// version: NONE, LOW, MEDIUM, HIGH or CRITICAL for v3.x and v4.0 (the
// FIRST ratings), LOW, MEDIUM or HIGH for v2.0 (NVD's ranges, since CVSS
// v2.0 itself defines none).
func Severity(version string, score float64) (string, error) {
	if math.IsNaN(score) || score < 0 || score > 10 {
		return "", fmt.Errorf("%w: %v", errScoreOutOfRange, score)
	}
	switch version {
	case CVSSv20:
		switch {
		case score < 4:
			return "LOW", nil
		case score < 7:
			return "MEDIUM", nil
		default:
			return "HIGH", nil
		}
	case CVSSv30:
		return gocvss30.Rating(score)
	case CVSSv31:
		return gocvss31.Rating(score)
	case CVSSv40:
		return gocvss40.Rating(score)
	default:
		return "", fmt.Errorf("unknown CVSS version %q (want 2.0, 3.0, 3.1 or 4.0)", version)
	}
}
