// Package epss reads FIRST Exploit Prediction Scoring System score files.
package epss

import "time"

// Score is one FIRST EPSS score.
type Score struct {
	CVEID      string    `json:"cve"`
	Score      float64   `json:"epss"`
	Percentile float64   `json:"percentile"`
	Date       time.Time `json:"date"`
	// ModelVersion is the model named in the file's header, when present.
	ModelVersion string `json:"modelVersion,omitempty"`
}
