package cve

import "errors"

// Sentinel errors wrapped by every *ParseError; test for them with errors.Is.
var (
	// ErrMalformedJSON means the input is not valid JSON (truncated,
	// invalid syntax, trailing garbage).
	ErrMalformedJSON = errors.New("malformed JSON")
	// ErrNotCVERecord means the input is JSON but not a CVE record: its
	// dataType is missing or is not "CVE_RECORD".
	ErrNotCVERecord = errors.New("not a CVE record")
	// ErrUnsupportedVersion means dataVersion is missing or names a CVE
	// JSON schema version this parser does not know (it reads 5.0 to 5.2).
	ErrUnsupportedVersion = errors.New("unsupported CVE JSON dataVersion")
	// ErrMissingID means cveMetadata.cveId is missing or does not have the
	// shape CVE-YYYY-NNNN (4 to 19 digits after the year).
	ErrMissingID = errors.New("missing or invalid CVE ID")
	// ErrInvalidField means a field has the wrong JSON type or an invalid
	// value (an unknown state, an unparsable timestamp).
	ErrInvalidField = errors.New("invalid field")
)

// ParseError describes why a CVE record could not be parsed. It wraps one
// of the sentinel errors of this package (ErrMalformedJSON,
// ErrNotCVERecord, ErrUnsupportedVersion, ErrMissingID, ErrInvalidField)
// and, for ErrMalformedJSON and ErrInvalidField, the underlying decoder or
// time error.
type ParseError struct {
	// ID is the record's cveMetadata.cveId when it could be read.
	ID string
	// Field is the JSON Pointer (RFC 6901) of the offending field, e.g.
	// "/cveMetadata/dateUpdated"; "" when the input as a whole is at
	// fault.
	Field string
	// Reason says what was wrong, in words.
	Reason string
	// Kind is the sentinel error this error wraps.
	Kind error
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *ParseError) Error() string {
	msg := "parse CVE record"
	if e.ID != "" {
		msg += " " + e.ID
	}
	msg += ": " + e.Kind.Error()
	if e.Field != "" {
		msg += ": field " + e.Field
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the sentinel kind and the underlying error, so errors.Is
// and errors.As see both.
func (e *ParseError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// newParseError builds a ParseError and counts it in the parse error metric.
func newParseError(kind error, id, field, reason string, err error) *ParseError {
	parseErrors.WithLabelValues(errorReason(kind)).Inc()
	return &ParseError{ID: id, Field: field, Reason: reason, Kind: kind, Err: err}
}

// errorReason is the metric label for an error kind.
func errorReason(kind error) string {
	switch kind {
	case ErrMalformedJSON:
		return "malformed_json"
	case ErrNotCVERecord:
		return "not_cve_record"
	case ErrUnsupportedVersion:
		return "unsupported_version"
	case ErrMissingID:
		return "missing_id"
	case ErrInvalidField:
		return "invalid_field"
	default:
		return "other"
	}
}
