package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/alert/silence"
	"github.com/kubeward/kubeward/internal/auth"
)

// AlertService is what the alert routes call; *service.Service implements
// it.
type AlertService interface {
	ListAlerts(ctx context.Context, f service.Filter) (service.Page, error)
	Acknowledge(ctx context.Context, fingerprint, by, comment string) (alert.Alert, error)
	CreateSilence(ctx context.Context, sil alert.Silence) (alert.Silence, error)
	ListSilences(ctx context.Context, f silence.Filter) ([]alert.Silence, error)
	ExpireSilence(ctx context.Context, id string) (alert.Silence, error)
	SendTest(ctx context.Context, receiver string) ([]service.TestResult, error)
}

var _ AlertService = (*service.Service)(nil)

// AlertPaths are the path patterns NewAlertsHandler serves. Mount the
// handler on each of them next to Server.Handler on "/api/v1/" (the more
// specific patterns win):
//
//	for _, p := range api.AlertPaths {
//		mux.Handle(p, alerts)
//	}
var AlertPaths = []string{"/api/v1/alerts", "/api/v1/alerts/", "/api/v1/silences", "/api/v1/silences/", "/api/v1/receivers/"}

// Alert list bounds, as for every list endpoint.
const (
	defaultAlertLimit = 50
	maxAlertLimit     = 1000
)

// AckRequest is the body of POST /api/v1/alerts/{fingerprint}/ack.
type AckRequest struct {
	// By names who acknowledges. It is required when the API runs
	// without authentication; otherwise the authenticated caller is
	// recorded and By is ignored.
	By      string `json:"by,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// ReceiverTest is the body of POST /api/v1/receivers/{name}/test: the
// outcome for each integration of the receiver. When any failed, it is
// carried as extension members of a 502 problem.
type ReceiverTest struct {
	Receiver string               `json:"receiver"`
	Results  []service.TestResult `json:"results"`
}

type alertsHandler struct {
	svc    AlertService
	logger *slog.Logger
}

// AlertRoutes returns the alert routes bound to svc, each with the least
// role it requires: viewers list alerts and silences, operators
// acknowledge, silence and test receivers.
//
//	GET    /api/v1/alerts                      list and filter alerts
//	POST   /api/v1/alerts/{fingerprint}/ack    acknowledge an alert
//	GET    /api/v1/silences                    list silences
//	POST   /api/v1/silences                    create a silence
//	DELETE /api/v1/silences/{id}               expire a silence
//	POST   /api/v1/receivers/{name}/test       send a test notification
func AlertRoutes(svc AlertService, logger *slog.Logger) []Route {
	if logger == nil {
		logger = slog.Default()
	}
	h := &alertsHandler{svc: svc, logger: logger}
	return []Route{
		{Method: "GET", Path: "/api/v1/alerts", Role: auth.RoleViewer, Handler: h.listAlerts,
			Summary: "List alerts, most recently started first",
			Query: []Param{
				{Name: "state", Type: "string", Description: "firing or resolved (comma separated)"},
				{Name: "severity", Type: "string", Description: "critical, high, medium, low or info (comma separated)"},
				{Name: "source", Type: "string", Description: "finding, violation, detection, anomaly or response (comma separated)"},
				{Name: "filter", Type: "string", Description: `label matcher, e.g. alertname="X" or namespace=~"prod-.*" (repeatable; all must match)`},
				{Name: "muted", Type: "boolean", Description: "only alerts that are (true) or are not (false) silenced or inhibited"},
				{Name: "acknowledged", Type: "boolean", Description: "only alerts that are (true) or are not (false) acknowledged"},
				limitParam, offsetParam,
			}},
		{Method: "POST", Path: "/api/v1/alerts/{fingerprint}/ack", Role: auth.RoleOperator, Handler: h.ackAlert,
			Summary: "Acknowledge an alert's current firing episode"},
		{Method: "GET", Path: "/api/v1/silences", Role: auth.RoleViewer, Handler: h.listSilences,
			Summary: "List silences by start time",
			Query: []Param{
				{Name: "state", Type: "string", Description: "pending, active or expired (comma separated)"},
				limitParam, offsetParam,
			}},
		{Method: "POST", Path: "/api/v1/silences", Role: auth.RoleOperator, Handler: h.createSilence,
			Summary: "Create a silence", Status: http.StatusCreated},
		{Method: "DELETE", Path: "/api/v1/silences/{id}", Role: auth.RoleOperator, Handler: h.expireSilence,
			Summary: "Expire a silence now"},
		{Method: "POST", Path: "/api/v1/receivers/{name}/test", Role: auth.RoleOperator, Handler: h.testReceiver,
			Summary: "Send a test notification to every integration of a receiver"},
	}
}

// NewAlertsHandler serves AlertRoutes on a mux of its own, for mounting
// next to Server.Handler on each of AlertPaths. It does not authenticate:
// mount it behind authentication, or better, declare AlertRoutes in the
// API's route table so that each route gets its role and audit. Request
// bodies are limited to MaxBodyBytes.
func NewAlertsHandler(svc AlertService, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range AlertRoutes(svc, logger) {
		mux.HandleFunc(rt.pattern(), rt.Handler)
	}
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return http.MaxBytesHandler(mux, MaxBodyBytes)
}

// ParseAlertFilter turns URL query parameters into an alert filter:
// state (firing, resolved), severity, source (each comma separated or
// repeated), filter (a label matcher such as alertname="X" or
// namespace=~"prod-.*", repeatable, all must match), muted and
// acknowledged (true/false), limit (1–1000, default 50) and offset.
func ParseAlertFilter(v url.Values) (service.Filter, error) {
	var f service.Filter
	for _, s := range queryList(v["state"]) {
		if s != service.StateFiring && s != service.StateResolved {
			return f, fmt.Errorf("state %q: want firing or resolved", s)
		}
		f.States = append(f.States, s)
	}
	for _, s := range queryList(v["severity"]) {
		sev := alert.Severity(s)
		if !sev.Valid() {
			return f, fmt.Errorf("severity %q: want critical, high, medium, low or info", s)
		}
		f.Severities = append(f.Severities, sev)
	}
	for _, s := range queryList(v["source"]) {
		src := alert.Source(s)
		if !src.Valid() {
			return f, fmt.Errorf("source %q: want finding, violation, detection, anomaly or response", s)
		}
		f.Sources = append(f.Sources, src)
	}
	for _, s := range v["filter"] {
		m, err := alert.ParseMatcher(s)
		if err != nil {
			return f, fmt.Errorf("filter: %w", err)
		}
		f.Matchers = append(f.Matchers, m)
	}
	var err error
	if f.Muted, err = parseOptionalBool(v.Get("muted")); err != nil {
		return f, fmt.Errorf("muted: %w", err)
	}
	if f.Acknowledged, err = parseOptionalBool(v.Get("acknowledged")); err != nil {
		return f, fmt.Errorf("acknowledged: %w", err)
	}
	if f.Limit, err = parseInt(v.Get("limit"), defaultAlertLimit, 1, maxAlertLimit); err != nil {
		return f, fmt.Errorf("limit: %w", err)
	}
	if f.Offset, err = parseInt(v.Get("offset"), 0, 0, 1<<30); err != nil {
		return f, fmt.Errorf("offset: %w", err)
	}
	return f, nil
}

// queryList splits comma-separated values, lower-cased, dropping empty ones.
func queryList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.ToLower(strings.TrimSpace(part)); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func parseOptionalBool(s string) (*bool, error) {
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, fmt.Errorf("%q: want true or false", s)
	}
	return &b, nil
}

func (h *alertsHandler) listAlerts(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("receiver") {
		writeProblem(w, r, http.StatusBadRequest, "filtering by receiver is not supported yet: filter by the labels the receiver's route matches")
		return
	}
	f, err := ParseAlertFilter(r.URL.Query())
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.svc.ListAlerts(r.Context(), f)
	switch {
	case errors.Is(err, alert.ErrInvalidQuery):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	if page.Items == nil {
		page.Items = []service.View{}
	}
	writeAlertList(w, &List[service.View]{Total: page.Total, Limit: f.Limit, Offset: f.Offset, Items: page.Items})
}

func (h *alertsHandler) ackAlert(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fingerprint")
	if _, err := alert.ParseFingerprint(fp); err != nil || len(fp) != 16 {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not an alert fingerprint (want 16 hex digits)", fp))
		return
	}
	var req AckRequest
	if !decodeBody(w, r, &req) {
		return
	}
	by := actor(r, req.By)
	if by == "" {
		writeProblem(w, r, http.StatusBadRequest, `"by" is required: name who acknowledges the alert`)
		return
	}
	a, err := h.svc.Acknowledge(r.Context(), strings.ToLower(fp), by, req.Comment)
	switch {
	case errors.Is(err, alert.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, "alert "+fp+" is not stored (it may have been resolved and pruned)")
	case err != nil:
		h.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, a)
	}
}

func (h *alertsHandler) listSilences(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f silence.Filter
	for _, s := range queryList(q["state"]) {
		st := silence.State(s)
		if st != silence.StatePending && st != silence.StateActive && st != silence.StateExpired {
			writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("state %q: want pending, active or expired", s))
			return
		}
		f.States = append(f.States, st)
	}
	limit, err := parseInt(q.Get("limit"), defaultAlertLimit, 1, maxAlertLimit)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	offset, err := parseInt(q.Get("offset"), 0, 0, 1<<30)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	all, err := h.svc.ListSilences(r.Context(), f)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	out := List[alert.Silence]{Total: len(all), Limit: limit, Offset: offset, Items: []alert.Silence{}}
	if offset < len(all) {
		out.Items = all[offset:min(len(all), offset+limit)]
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *alertsHandler) createSilence(w http.ResponseWriter, r *http.Request) {
	var sil alert.Silence
	if !decodeBody(w, r, &sil) {
		return
	}
	if sil.ID != "" {
		writeProblem(w, r, http.StatusBadRequest, "id is assigned by the server: to change a silence, expire it and create a new one")
		return
	}
	sil.CreatedBy = actor(r, sil.CreatedBy)
	created, err := h.svc.CreateSilence(r.Context(), sil)
	switch {
	case errors.Is(err, silence.ErrInvalid):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
	case err != nil:
		h.internalError(w, r, err)
	default:
		w.Header().Set("Location", "/api/v1/silences/"+url.PathEscape(created.ID))
		writeJSON(w, http.StatusCreated, created)
	}
}

func (h *alertsHandler) expireSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sil, err := h.svc.ExpireSilence(r.Context(), id)
	switch {
	case errors.Is(err, alert.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("silence %q does not exist", id))
	case err != nil:
		h.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, sil)
	}
}

// receiverTestProblem is a 502 problem carrying the per-integration
// outcomes.
type receiverTestProblem struct {
	Problem
	ReceiverTest
}

func (h *alertsHandler) testReceiver(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	results, err := h.svc.SendTest(r.Context(), name)
	body := ReceiverTest{Receiver: name, Results: results}
	switch {
	case err != nil && len(results) == 0:
		// The receiver is not configured or has nothing to send to.
		writeProblem(w, r, http.StatusNotFound, err.Error())
	case err != nil:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(receiverTestProblem{
			Problem: Problem{
				Type: "about:blank", Title: http.StatusText(http.StatusBadGateway), Status: http.StatusBadGateway,
				Detail: "the test notification failed: " + err.Error(), Instance: r.URL.Path,
			},
			ReceiverTest: body,
		})
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

// decodeBody reads the request body into v (see decodeJSON) and answers
// the problem itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeJSON(r.Body, v); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// actor names who performs a change: the authenticated caller, or, when
// the API runs without authentication, the name the request claims.
func actor(r *http.Request, claimed string) string {
	if p, ok := PrincipalFrom(r.Context()); ok && p.Kind != auth.KindLocal {
		return p.Name
	}
	return strings.TrimSpace(claimed)
}

func (h *alertsHandler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	h.logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeProblem(w, r, http.StatusInternalServerError, "the server could not complete the request; see its log")
}
