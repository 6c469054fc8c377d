package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

var cveIDPattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

func init() {
	declareRoutes(func(s *Server) []Route {
		return []Route{
			{Method: "GET", Path: "/api/v1/cves", Role: auth.RoleViewer, Handler: s.listCVEs,
				Summary: "Search CVE records", Response: "CVEList", Query: cveQueryParams},
			{Method: "GET", Path: "/api/v1/cves/stats", Role: auth.RoleViewer, Handler: s.cveStats,
				Summary: "Counts of CVE records by state, severity and KEV", Response: "CVEStats"},
			{Method: "GET", Path: "/api/v1/cves/{id}", Role: auth.RoleViewer, Handler: s.getCVE,
				Summary: "One CVE record with its details (format=raw: the CVE JSON 5 record as stored)", Response: "CVEDetail",
				Query: []Param{{Name: "format", Type: "string", Description: "raw: the stored CVE JSON 5 record"}}},
			// Dead letters carry raw message payloads: operators only.
			{Method: "GET", Path: "/api/v1/dead-letters", Role: auth.RoleOperator, Handler: s.listDeadLetters,
				Summary: "Messages a consumer could not process", Response: "DeadLetterList",
				Query: []Param{limitParam, offsetParam}},
		}
	})
}

var cveQueryParams = []Param{
	{Name: "q", Type: "string", Description: "full-text search over ID, title and descriptions"},
	{Name: "severity", Type: "string", Description: "comma-separated: critical, high, medium, low, none"},
	{Name: "kev", Type: "boolean", Description: "only records in (true) or not in (false) CISA KEV"},
	{Name: "cwe", Type: "string", Description: "CWE ID, e.g. CWE-79 or 79"},
	{Name: "state", Type: "string", Description: "published or rejected"},
	{Name: "published_from", Type: "string", Description: "RFC 3339 or YYYY-MM-DD"},
	{Name: "published_to", Type: "string", Description: "RFC 3339 or YYYY-MM-DD"},
	limitParam, offsetParam,
}

// CVEList is the body of GET /api/v1/cves.
type CVEList struct {
	Total  int                `json:"total"`
	Limit  int                `json:"limit"`
	Offset int                `json:"offset"`
	Items  []store.CVESummary `json:"items"`
}

// ParseCVEQuery turns URL query parameters into a store query:
// q, severity (comma separated), kev (true/false), cwe, state,
// published_from, published_to (RFC 3339 or YYYY-MM-DD), limit, offset.
func ParseCVEQuery(v url.Values) (store.CVEQuery, error) {
	q := store.CVEQuery{Text: strings.TrimSpace(v.Get("q")), CWE: strings.ToUpper(v.Get("cwe"))}
	for _, s := range v["severity"] {
		for _, part := range strings.Split(s, ",") {
			part = strings.ToUpper(strings.TrimSpace(part))
			switch part {
			case "":
			case "CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE":
				q.Severities = append(q.Severities, part)
			default:
				return q, fmt.Errorf("severity %q: want critical, high, medium, low or none", part)
			}
		}
	}
	if s := v.Get("kev"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, fmt.Errorf("kev %q: want true or false", s)
		}
		q.KEV = &b
	}
	if s := strings.ToUpper(v.Get("state")); s != "" {
		if s != "PUBLISHED" && s != "REJECTED" {
			return q, fmt.Errorf("state %q: want published or rejected", s)
		}
		q.State = s
	}
	if q.CWE != "" && !strings.HasPrefix(q.CWE, "CWE-") {
		q.CWE = "CWE-" + q.CWE
	}
	var err error
	if q.PublishedFrom, err = parseDate(v.Get("published_from")); err != nil {
		return q, fmt.Errorf("published_from: %w", err)
	}
	if q.PublishedTo, err = parseDate(v.Get("published_to")); err != nil {
		return q, fmt.Errorf("published_to: %w", err)
	}
	if q.Limit, err = parseInt(v.Get("limit"), 50, 1, 1000); err != nil {
		return q, fmt.Errorf("limit: %w", err)
	}
	if q.Offset, err = parseInt(v.Get("offset"), 0, 0, 1<<30); err != nil {
		return q, fmt.Errorf("offset: %w", err)
	}
	return q, nil
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD or RFC 3339)", s)
	}
	return t, nil
}

func parseInt(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q: want a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

func (s *Server) listCVEs(w http.ResponseWriter, r *http.Request) {
	q, err := ParseCVEQuery(r.URL.Query())
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.Store.SearchCVEs(r.Context(), q)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if page.Items == nil {
		page.Items = []store.CVESummary{}
	}
	writeJSON(w, http.StatusOK, CVEList{Total: page.Total, Limit: q.Limit, Offset: q.Offset, Items: page.Items})
}

func (s *Server) getCVE(w http.ResponseWriter, r *http.Request) {
	id := strings.ToUpper(r.PathValue("id"))
	if !cveIDPattern.MatchString(id) {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a CVE ID (want CVE-YYYY-NNNN)", r.PathValue("id")))
		return
	}
	d, err := s.Store.GetCVE(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(w, r, http.StatusNotFound, id+" is not in the store")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if r.URL.Query().Get("format") == "raw" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(d.Record.Raw)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) cveStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Store.CVEStats(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, err := parseInt(r.URL.Query().Get("limit"), 50, 1, 1000)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	offset, err := parseInt(r.URL.Query().Get("offset"), 0, 0, 1<<30)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	dls, err := s.Store.ListDeadLetters(r.Context(), limit, offset)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if dls == nil {
		dls = []store.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": dls, "limit": limit, "offset": offset})
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if s.Logger != nil {
		s.Logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, r, http.StatusInternalServerError, "the server could not complete the request; see its log")
}
