package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/scan"
)

// Topic is the bus topic on which the Service publishes findings: one
// message per finding (a FindingMessage in JSON), keyed by the scan
// target, so the findings of one image stay in order and the alert
// pipeline raises one alert per image, package and advisory.
const Topic = "scan.findings"

// MaxMessageBytes bounds a decoded finding message.
const MaxMessageBytes = 256 << 10

// FindingMessage is the value of a Topic message.
type FindingMessage struct {
	// ScanID is the scan that found it.
	ScanID string `json:"scan_id"`
	// Kind and Target name what was scanned (Target is the image
	// reference or the upload's name).
	Kind   Kind   `json:"kind"`
	Target string `json:"target"`
	// Time is when the scan finished.
	Time    time.Time    `json:"time"`
	Finding scan.Finding `json:"finding"`
}

// Messages returns the bus messages publishing the findings of scan s.
func Messages(s Scan, findings []scan.Finding) ([]bus.Message, error) {
	out := make([]bus.Message, 0, len(findings))
	for _, f := range findings {
		b, err := json.Marshal(FindingMessage{ScanID: s.ID, Kind: s.Kind, Target: s.Target, Time: s.FinishedAt, Finding: f})
		if err != nil {
			return nil, fmt.Errorf("encode finding %s of %s for the bus: %w", f.AdvisoryID, f.Package.Name, err)
		}
		out = append(out, bus.Message{Topic: Topic, Key: s.Target, Value: b})
	}
	return out, nil
}

// DecodeMessage reads the value of a Topic message. It requires one JSON
// object with a scan ID, a target, a time, and a finding naming its
// package and advisory.
func DecodeMessage(b []byte) (FindingMessage, error) {
	if len(b) > MaxMessageBytes {
		return FindingMessage{}, fmt.Errorf("finding message of %d bytes exceeds the %d-byte limit", len(b), MaxMessageBytes)
	}
	var m FindingMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return FindingMessage{}, fmt.Errorf("finding message is not valid JSON: %w", err)
	}
	if dec.More() {
		return FindingMessage{}, errors.New("finding message: trailing data after the JSON object")
	}
	switch {
	case m.ScanID == "":
		return FindingMessage{}, errors.New("finding message has no scan_id")
	case m.Target == "":
		return FindingMessage{}, fmt.Errorf("finding message of scan %s has no target", m.ScanID)
	case m.Time.IsZero():
		return FindingMessage{}, fmt.Errorf("finding message of scan %s has no time", m.ScanID)
	case m.Finding.AdvisoryID == "" || m.Finding.Package.Name == "":
		return FindingMessage{}, fmt.Errorf("finding message of scan %s: the finding needs an advisory_id and a package name", m.ScanID)
	}
	return m, nil
}
