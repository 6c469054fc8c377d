package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxAlertBytes bounds the size of one encoded alert accepted by Decode.
const MaxAlertBytes = 1 << 20

// Decode parses one alert from its JSON form (the encoding of Alert, as
// published on the bus) and normalizes it. Unknown fields are refused so
// that a misspelt field is reported instead of silently dropped.
func Decode(data []byte) (Alert, error) {
	if len(data) > MaxAlertBytes {
		return Alert{}, fmt.Errorf("alert: message of %d bytes exceeds the %d-byte limit", len(data), MaxAlertBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var a Alert
	if err := dec.Decode(&a); err != nil {
		return Alert{}, fmt.Errorf("alert: invalid alert JSON: %w", err)
	}
	if dec.More() {
		return Alert{}, fmt.Errorf("alert: invalid alert JSON: trailing data after the alert object")
	}
	if err := a.Normalize(); err != nil {
		return Alert{}, err
	}
	return a, nil
}
