package cve

import (
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// wireRecord is the part of a CVE JSON 5 record that Parse reads.
type wireRecord struct {
	DataType    string `json:"dataType"`
	DataVersion string `json:"dataVersion"`
	CVEMetadata struct {
		CVEID             string `json:"cveId"`
		AssignerShortName string `json:"assignerShortName"`
		State             string `json:"state"`
		DateReserved      string `json:"dateReserved"`
		DatePublished     string `json:"datePublished"`
		DateUpdated       string `json:"dateUpdated"`
		DateRejected      string `json:"dateRejected"`
	} `json:"cveMetadata"`
	Containers struct {
		CNA wireContainer   `json:"cna"`
		ADP []wireContainer `json:"adp"`
	} `json:"containers"`
}

type wireContainer struct {
	ProviderMetadata struct {
		ShortName string `json:"shortName"`
	} `json:"providerMetadata"`
	Title           string            `json:"title"`
	Descriptions    []Description     `json:"descriptions"`
	RejectedReasons []Description     `json:"rejectedReasons"`
	Affected        []wireAffected    `json:"affected"`
	ProblemTypes    []wireProblemType `json:"problemTypes"`
	Metrics         []wireMetric      `json:"metrics"`
	References      []wireReference   `json:"references"`
}

type wireAffected struct {
	Vendor        string    `json:"vendor"`
	Product       string    `json:"product"`
	PackageName   string    `json:"packageName"`
	CollectionURL string    `json:"collectionURL"`
	DefaultStatus string    `json:"defaultStatus"`
	Versions      []Version `json:"versions"`
	CPEs          []string  `json:"cpes"`
}

type wireProblemType struct {
	Descriptions []struct {
		CWEID       string `json:"cweId"`
		Description string `json:"description"`
		Type        string `json:"type"`
	} `json:"descriptions"`
}

type wireReference struct {
	URL  string   `json:"url"`
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

type wireMetric struct {
	CVSSV4_0 *wireCVSS  `json:"cvssV4_0"`
	CVSSV3_1 *wireCVSS  `json:"cvssV3_1"`
	CVSSV3_0 *wireCVSS  `json:"cvssV3_0"`
	CVSSV2_0 *wireCVSS  `json:"cvssV2_0"`
	Other    *wireOther `json:"other"`
}

type wireCVSS struct {
	VectorString string  `json:"vectorString"`
	BaseScore    float64 `json:"baseScore"`
	BaseSeverity string  `json:"baseSeverity"`
}

type wireOther struct {
	Type    string         `json:"type"`
	Content jsontext.Value `json:"content"`
}

// wireSSVC is metrics[].other.content of type "ssvc".
type wireSSVC struct {
	Role      string           `json:"role"`
	Version   string           `json:"version"`
	Timestamp string           `json:"timestamp"`
	Options   []wireSSVCOption `json:"options"`
}

// wireSSVCOption is one element of the SSVC options list: a single-key
// object naming one decision point.
type wireSSVCOption struct {
	Exploitation    string `json:"Exploitation"`
	Automatable     string `json:"Automatable"`
	TechnicalImpact string `json:"Technical Impact"`
}

// wireKEV is metrics[].other.content of type "kev".
type wireKEV struct {
	DateAdded string `json:"dateAdded"`
	Reference string `json:"reference"`
}

// wireLabel is the free-form content of other "other" metrics; a string
// value or text is a textual severity.
type wireLabel struct {
	Value any `json:"value"`
	Text  any `json:"text"`
}

// checkIdentity checks what makes the input a CVE record this parser
// reads: dataType, dataVersion and cveId, in that order.
func (w *wireRecord) checkIdentity() *ParseError {
	id := w.CVEMetadata.CVEID
	if !ValidID(id) {
		id = ""
	}
	if w.DataType != DataTypeRecord {
		if w.DataType == "" {
			return newParseError(ErrNotCVERecord, id, "/dataType", "missing; a CVE JSON 5 record has dataType "+DataTypeRecord, nil)
		}
		return newParseError(ErrNotCVERecord, id, "/dataType", "value "+quote(w.DataType)+" is not "+DataTypeRecord, nil)
	}
	if !supportedVersion(w.DataVersion) {
		return newParseError(ErrUnsupportedVersion, id, "/dataVersion",
			"value "+quote(w.DataVersion)+" is not a supported CVE JSON version (5.0, 5.1, 5.2); upgrade kubeward to read newer records", nil)
	}
	if id == "" {
		return missingIDError(w.CVEMetadata.CVEID)
	}
	return nil
}

// record converts a checked wire record into a Record.
func (w *wireRecord) record() (*Record, *ParseError) {
	md := &w.CVEMetadata
	id := md.CVEID
	rec := &Record{
		ID:                id,
		State:             md.State,
		DataVersion:       w.DataVersion,
		AssignerShortName: md.AssignerShortName,
	}
	if rec.State != StatePublished && rec.State != StateRejected {
		return nil, newParseError(ErrInvalidField, id, "/cveMetadata/state",
			"value "+quote(rec.State)+" is neither "+StatePublished+" nor "+StateRejected, nil)
	}
	dates := []struct {
		field string
		raw   string
		dst   *time.Time
	}{
		{"/cveMetadata/dateReserved", md.DateReserved, &rec.DateReserved},
		{"/cveMetadata/datePublished", md.DatePublished, &rec.DatePublished},
		{"/cveMetadata/dateUpdated", md.DateUpdated, &rec.DateUpdated},
		{"/cveMetadata/dateRejected", md.DateRejected, &rec.DateRejected},
	}
	for _, d := range dates {
		if d.raw == "" {
			continue
		}
		t, err := parseTimestamp(d.raw)
		if err != nil {
			return nil, newParseError(ErrInvalidField, id, d.field, "", err)
		}
		*d.dst = t
	}
	switch {
	case md.DateUpdated != "":
		rec.DateUpdatedRaw = md.DateUpdated
	case md.DateRejected != "":
		rec.DateUpdatedRaw, rec.DateUpdated = md.DateRejected, rec.DateRejected
	case md.DatePublished != "":
		rec.DateUpdatedRaw, rec.DateUpdated = md.DatePublished, rec.DatePublished
	case md.DateReserved != "":
		rec.DateUpdatedRaw, rec.DateUpdated = md.DateReserved, rec.DateReserved
	}

	cna := &w.Containers.CNA
	rec.Title = cna.Title
	rec.preallocate(cna, w.Containers.ADP)
	if rec.State == StateRejected {
		rec.Descriptions = cna.RejectedReasons
	} else {
		rec.Descriptions = cna.Descriptions
	}
	if err := rec.addContainer(cna, SourceCNA, "/containers/cna"); err != nil {
		return nil, err
	}
	for i := range w.Containers.ADP {
		adp := &w.Containers.ADP[i]
		src := SourceADPPrefix + adp.ProviderMetadata.ShortName
		if err := rec.addContainer(adp, src, "/containers/adp/"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// preallocate sizes rec's lists for what the containers hold.
func (rec *Record) preallocate(cna *wireContainer, adp []wireContainer) {
	var affected, problems, metrics, refs int
	count := func(c *wireContainer) {
		affected += len(c.Affected)
		refs += len(c.References)
		metrics += len(c.Metrics) // usually one metric per entry
		for _, pt := range c.ProblemTypes {
			problems += len(pt.Descriptions)
		}
	}
	count(cna)
	for i := range adp {
		count(&adp[i])
	}
	// Lists stay nil when empty, as they would without preallocation.
	if affected > 0 {
		rec.Affected = make([]Affected, 0, affected)
	}
	if problems > 0 {
		rec.Problems = make([]Problem, 0, problems)
	}
	if metrics > 0 {
		rec.Metrics = make([]Metric, 0, metrics)
	}
	if refs > 0 {
		rec.References = make([]Reference, 0, refs)
	}
}

// addContainer appends what one container says to rec.
func (rec *Record) addContainer(c *wireContainer, source, path string) *ParseError {
	for i := range c.Affected {
		a := &c.Affected[i]
		rec.Affected = append(rec.Affected, Affected{
			Source:        source,
			Vendor:        a.Vendor,
			Product:       a.Product,
			PackageName:   a.PackageName,
			CollectionURL: a.CollectionURL,
			DefaultStatus: a.DefaultStatus,
			Versions:      a.Versions,
			CPEs:          a.CPEs,
		})
	}
	for _, pt := range c.ProblemTypes {
		for _, d := range pt.Descriptions {
			cwe := d.CWEID
			if cwe == "" {
				cwe = leadingCWE(d.Description)
			}
			rec.Problems = append(rec.Problems, Problem{CWEID: cwe, Description: d.Description, Type: d.Type, Source: source})
		}
	}
	for _, r := range c.References {
		rec.References = append(rec.References, Reference{URL: r.URL, Name: r.Name, Tags: r.Tags, Source: source})
	}
	cisa := source == SourceADPPrefix+ADPCISA
	for i := range c.Metrics {
		m := &c.Metrics[i]
		rec.addCVSS(source, CVSSv40, m.CVSSV4_0)
		rec.addCVSS(source, CVSSv31, m.CVSSV3_1)
		rec.addCVSS(source, CVSSv30, m.CVSSV3_0)
		rec.addCVSS(source, CVSSv20, m.CVSSV2_0)
		if m.Other != nil {
			if err := rec.addOther(source, cisa, m.Other, path+"/metrics/"+strconv.Itoa(i)+"/other/content"); err != nil {
				return err
			}
		}
	}
	return nil
}

// addCVSS appends one CVSS metric, scoring its vector.
func (rec *Record) addCVSS(source, version string, c *wireCVSS) {
	if c == nil {
		return
	}
	m := Metric{Source: source, Format: FormatCVSS, Version: version, Vector: c.VectorString, ReportedScore: c.BaseScore}
	score, sev, err := ScoreCVSS(version, c.VectorString)
	if err != nil {
		cvssVectorErrors.WithLabelValues(version).Inc()
		m.Error = err.Error()
		if s, serr := Severity(version, c.BaseScore); serr == nil {
			m.BaseScore, m.Severity = c.BaseScore, s
		} else {
			// The reported score is no better: score 0, keep a valid
			// reported rating.
			m.Error += "; reported baseScore: " + serr.Error()
			m.Severity = reportedRating(c.BaseSeverity)
		}
	} else {
		m.BaseScore, m.Severity = score, sev
	}
	rec.Metrics = append(rec.Metrics, m)
}

// reportedRating returns a record's baseSeverity when it is a CVSS rating.
func reportedRating(s string) string {
	switch s = strings.ToUpper(s); s {
	case "NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL":
		return s
	}
	return ""
}

// addOther appends one metrics[].other entry and, in the CISA-ADP
// container, extracts SSVC and KEV.
func (rec *Record) addOther(source string, cisa bool, o *wireOther, path string) *ParseError {
	m := Metric{Source: source, Format: FormatOther, Version: o.Type}
	switch {
	case cisa && o.Type == OtherSSVC && rec.SSVC == nil:
		var s wireSSVC
		if err := json.Unmarshal(o.Content, &s, decodeOptions); err != nil {
			return newParseError(ErrInvalidField, rec.ID, path, "CISA-ADP SSVC content is not {role, version, timestamp, options}", err)
		}
		ssvc := &SSVC{Role: s.Role, Version: s.Version}
		if s.Timestamp != "" {
			t, err := parseTimestamp(s.Timestamp)
			if err != nil {
				return newParseError(ErrInvalidField, rec.ID, path+"/timestamp", "", err)
			}
			ssvc.Timestamp = t
		}
		for _, opt := range s.Options {
			if opt.Exploitation != "" {
				ssvc.Exploitation = strings.ToLower(opt.Exploitation)
			}
			if opt.Automatable != "" {
				ssvc.Automatable = strings.ToLower(opt.Automatable)
			}
			if opt.TechnicalImpact != "" {
				ssvc.TechnicalImpact = strings.ToLower(opt.TechnicalImpact)
			}
		}
		rec.SSVC = ssvc
	case cisa && o.Type == OtherKEV && rec.KEV == nil:
		var k wireKEV
		if err := json.Unmarshal(o.Content, &k, decodeOptions); err != nil {
			return newParseError(ErrInvalidField, rec.ID, path, "CISA-ADP KEV content is not {dateAdded, reference}", err)
		}
		kev := &KEV{Reference: k.Reference}
		if k.DateAdded != "" {
			t, err := parseTimestamp(k.DateAdded)
			if err != nil {
				return newParseError(ErrInvalidField, rec.ID, path+"/dateAdded", "", err)
			}
			kev.DateAdded = t
		}
		rec.KEV = kev
	case o.Type != OtherSSVC && o.Type != OtherKEV:
		// Free-form content: a string "value" or "text" is a textual
		// severity. Anything else is only kept in Raw.
		var l wireLabel
		if json.Unmarshal(o.Content, &l, decodeOptions) == nil {
			if s, ok := l.Value.(string); ok {
				m.Severity = s
			} else if s, ok := l.Text.(string); ok {
				m.Severity = s
			}
		}
	}
	rec.Metrics = append(rec.Metrics, m)
	return nil
}

// leadingCWE returns the CWE ID that s starts with ("CWE-79: ..."), or "".
func leadingCWE(s string) string {
	const prefix = "CWE-"
	if !strings.HasPrefix(s, prefix) {
		return ""
	}
	n := len(prefix)
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == len(prefix) {
		return ""
	}
	return s[:n]
}
