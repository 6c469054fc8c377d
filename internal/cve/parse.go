package cve

import (
	"errors"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DataTypeRecord is the dataType of a CVE record.
const DataTypeRecord = "CVE_RECORD"

// Container sources as Problem.Source, Metric.Source, Reference.Source and
// Affected.Source spell them: "cna" for the CNA container and
// SourceADPPrefix + providerMetadata.shortName for an ADP container.
const (
	// SourceCNA marks what the CNA container says.
	SourceCNA = "cna"
	// SourceADPPrefix prefixes an ADP container's short name.
	SourceADPPrefix = "adp:"
)

// ADPCISA is the short name of the CISA Vulnrichment ADP container: its
// "ssvc" and "kev" metrics fill Record.SSVC and Record.KEV.
const ADPCISA = "CISA-ADP"

// Types of metrics[].other that the parser extracts.
const (
	// OtherSSVC is the CISA-ADP SSVC decision.
	OtherSSVC = "ssvc"
	// OtherKEV is the CISA-ADP Known Exploited Vulnerability listing.
	OtherKEV = "kev"
)

// Parse parses one CVE JSON 5.x record (dataType CVE_RECORD, dataVersion
// 5.0, 5.1 or 5.2, including patch versions such as 5.1.1) into a Record.
//
// The CNA container gives the title, descriptions (rejectedReasons for
// REJECTED records), affected products, problem types, metrics and
// references; every ADP container adds its affected products, problem
// types, metrics and references with Source "adp:<shortName>". The
// CISA-ADP "ssvc" and "kev" metrics also fill Record.SSVC and Record.KEV.
// Every metrics[] entry becomes one Metric per CVSS key (in the order 4.0,
// 3.1, 3.0, 2.0) plus one "other" Metric for metrics[].other, whose
// Version is other.type and whose Severity is content.value or
// content.text when that is a string (e.g. a Red Hat rating); ssvc and kev
// entries are kept as "other" Metrics as well, so Metrics mirrors the
// record. CVSS BaseScore is computed from the vector (see ScoreCVSS); a
// vector that cannot be scored sets Metric.Error and falls back to the
// record's baseScore without failing the record.
//
// A problem type without cweId whose description starts with a CWE ID
// ("CWE-79 Cross-site Scripting") gets that ID. SSVC option values are
// lower-cased ("Total" and "total" both occur). All times are in UTC;
// timestamps without a zone are UTC as the schema says.
//
// DateUpdatedRaw and DateUpdated are cveMetadata.dateUpdated; when a record
// lacks it they fall back to dateRejected (the last change of a REJECTED
// record), then datePublished, then dateReserved, so that every record has
// an ordering key when it has any date at all.
//
// Raw is data itself (not a copy): callers must not modify data
// afterwards. Errors are *ParseError values (Field is a JSON Pointer)
// wrapping ErrMalformedJSON, ErrNotCVERecord, ErrUnsupportedVersion,
// ErrMissingID or ErrInvalidField, and are counted in
// kubeward_cve_parse_errors_total. A REJECTED record is a state, not an
// error. Parse is safe for concurrent use.
func Parse(data []byte) (*Record, error) {
	var w wireRecord
	if err := json.Unmarshal(data, &w, decodeOptions); err != nil {
		return nil, decodeError(data, err)
	}
	if perr := w.checkIdentity(); perr != nil {
		return nil, perr
	}
	rec, perr := w.record()
	if perr != nil {
		return nil, perr
	}
	rec.Raw = data
	return rec, nil
}

// decodeOptions make the decoder as lenient as encoding/json about things
// real feeds get wrong and that do not change the meaning: duplicate
// object member names (the last wins) and invalid UTF-8 (replaced).
var decodeOptions = json.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// decodeError turns a decoder error into a *ParseError. A value of the
// wrong type is ErrInvalidField, but only once the identity checks pass:
// a wrong-typed field in something that is not a CVE 5 record at all is
// reported as such.
func decodeError(data []byte, err error) *ParseError {
	semErr, ok := semanticError(err)
	if !ok {
		return malformedError(err)
	}
	// The decoder stops at the first type error, so read the identity
	// fields on their own.
	var id wireIdentity
	_ = json.Unmarshal(data, &id, decodeOptions) // best effort: only for the message
	var w wireRecord
	w.DataType, w.DataVersion, w.CVEMetadata.CVEID = id.identity()
	if perr := w.checkIdentity(); perr != nil {
		return perr
	}
	field := string(semErr.JSONPointer)
	if field == "" {
		field = "/"
	}
	reason := "has the wrong JSON type for the CVE JSON 5 schema"
	if semErr.JSONKind != 0 && semErr.GoType != nil {
		reason = "is a JSON " + semErr.JSONKind.String() + ", the CVE JSON 5 schema wants a " + schemaType(semErr.GoType.Kind().String())
	}
	return newParseError(ErrInvalidField, w.CVEMetadata.CVEID, field, reason, err)
}

// semanticError returns the decoder's type error, and false when err is
// a syntax or I/O error instead.
func semanticError(err error) (*json.SemanticError, bool) {
	var semErr *json.SemanticError
	var synErr *jsontext.SyntacticError
	if errors.As(err, &synErr) || !errors.As(err, &semErr) {
		return nil, false
	}
	return semErr, true
}

func malformedError(err error) *ParseError {
	return newParseError(ErrMalformedJSON, "", "", "the input is not valid JSON; check that the file is complete", err)
}

// schemaType names a Go kind in JSON terms.
func schemaType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "float64", "int", "int64":
		return "number"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	default:
		return goKind
	}
}

// wireIdentity is what identifies a CVE JSON 5 record.
// Its fields take any JSON value so that one of the wrong type does not
// stop the decoder before the others.
type wireIdentity struct {
	DataType    any `json:"dataType"`
	DataVersion any `json:"dataVersion"`
	CVEMetadata any `json:"cveMetadata"`
}

// identity returns the identity fields that are strings.
func (id *wireIdentity) identity() (dataType, dataVersion, cveID string) {
	dataType, _ = id.DataType.(string)
	dataVersion, _ = id.DataVersion.(string)
	if md, ok := id.CVEMetadata.(map[string]any); ok {
		cveID, _ = md["cveId"].(string)
	}
	return dataType, dataVersion, cveID
}

// PeekID returns cveMetadata.cveId of a CVE record without parsing the
// rest: it decodes only that field (the decoder still scans the whole
// input for validity, but allocates almost nothing; about 3x faster than
// Parse). The ID is validated like Parse does. Use it to key a message
// before a full Parse.
func PeekID(data []byte) (string, error) {
	var w struct {
		CVEMetadata struct {
			CVEID string `json:"cveId"`
		} `json:"cveMetadata"`
	}
	if err := json.Unmarshal(data, &w, decodeOptions); err != nil {
		if _, ok := semanticError(err); !ok {
			return "", malformedError(err)
		}
		return "", newParseError(ErrMissingID, "", "/cveMetadata/cveId", "is not a string", err)
	}
	id := w.CVEMetadata.CVEID
	if !ValidID(id) {
		return "", missingIDError(id)
	}
	return id, nil
}

// ValidID reports whether id has the CVE ID shape of the CVE JSON 5
// schema: "CVE-", a four-digit year, "-", and 4 to 19 digits.
func ValidID(id string) bool {
	const prefix = "CVE-"
	if len(id) < len("CVE-2000-0000") || len(id) > len("CVE-2000-")+19 || !strings.HasPrefix(id, prefix) {
		return false
	}
	s := id[len(prefix):]
	for i := range 4 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if s[4] != '-' {
		return false
	}
	for i := 5; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func missingIDError(id string) *ParseError {
	if id == "" {
		return newParseError(ErrMissingID, "", "/cveMetadata/cveId", "the record has no CVE ID", nil)
	}
	return newParseError(ErrMissingID, "", "/cveMetadata/cveId",
		"value "+quote(id)+" does not match CVE-YYYY-NNNN (4 to 19 digits after the year)", nil)
}

// quote quotes s for an error message, shortened to keep messages small.
func quote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return strconv.Quote(s)
}

// supportedVersion reports whether v is a CVE JSON 5 schema version this
// parser reads: 5.0, 5.1 or 5.2, optionally with a patch number (5.1.1).
func supportedVersion(v string) bool {
	if len(v) < 3 || v[0] != '5' || v[1] != '.' || v[2] < '0' || v[2] > '2' {
		return false
	}
	rest := v[3:]
	if rest == "" {
		return true
	}
	if rest[0] != '.' || len(rest) == 1 {
		return false
	}
	for i := 1; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}
