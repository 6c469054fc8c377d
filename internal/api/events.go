package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// EventLister is what the event routes call; every eventstore.Store
// implements it.
type EventLister interface {
	List(ctx context.Context, f eventstore.Filter) (eventstore.Page, error)
}

// FalcoContentType is the media type of GET /api/v1/events?format=falco:
// one Falco json_output alert per line.
const FalcoContentType = "application/x-ndjson"

var eventQueryParams = []Param{
	{Name: "rule", Type: "string", Description: "rule name, exactly"},
	{Name: "priority", Type: "string", Description: "least priority: emergency, alert, critical, error, warning, notice, informational or debug"},
	{Name: "source", Type: "string", Description: "event source, e.g. k8s_audit or syscall"},
	{Name: "since", Type: "string", Description: "events at or after this time (RFC 3339 or YYYY-MM-DD)"},
	{Name: "until", Type: "string", Description: "events before this time (RFC 3339 or YYYY-MM-DD)"},
	{Name: "q", Type: "string", Description: "text the output contains (case-insensitive)"},
	{Name: "namespace", Type: "string", Description: "Kubernetes namespace the event names"},
	{Name: "pod", Type: "string", Description: "pod the event names"},
	{Name: "format", Type: "string", Description: "falco: the stored Falco json_output alerts, one per line (application/x-ndjson), the total in X-Total-Count"},
	limitParam, offsetParam,
}

type eventsHandler struct {
	st     EventLister
	logger *slog.Logger
}

func init() {
	schemas["Event"] = map[string]any{"type": "object", "description": "a detection: id, time, rule, priority, source, output, output_fields, tags, hostname, namespace, pod"}
	schemas["EventList"] = listOf("Event")
}

// EventRoutes returns the event routes bound to st (serve passes the
// store's Events()); viewers may list events.
//
//	GET /api/v1/events    list and filter detection events, newest first
func EventRoutes(st EventLister, logger *slog.Logger) []Route {
	if logger == nil {
		logger = slog.Default()
	}
	h := &eventsHandler{st: st, logger: logger}
	return []Route{
		{Method: "GET", Path: "/api/v1/events", Role: auth.RoleViewer, Handler: h.listEvents,
			Summary: "List detection events (Falco alerts), newest first", Query: eventQueryParams, Response: "EventList"},
	}
}

// ParseEventFilter turns URL query parameters into an event filter: rule,
// priority (the least severe priority to keep), source, since, until
// (RFC 3339 or YYYY-MM-DD), q (output text), namespace, pod, limit
// (1–1000, default 50) and offset.
func ParseEventFilter(v url.Values) (eventstore.Filter, error) {
	f := eventstore.Filter{
		Rule:      v.Get("rule"),
		Source:    v.Get("source"),
		Text:      strings.TrimSpace(v.Get("q")),
		Namespace: v.Get("namespace"),
		Pod:       v.Get("pod"),
	}
	if s := v.Get("priority"); s != "" {
		p, err := rules.ParsePriority(s)
		if err != nil {
			return f, fmt.Errorf("priority: %w", err)
		}
		f.MinPriority = &p
	}
	var err error
	if f.Since, err = parseDate(v.Get("since")); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseDate(v.Get("until")); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if f.Limit, err = parseInt(v.Get("limit"), eventstore.DefaultLimit, 1, eventstore.MaxLimit); err != nil {
		return f, fmt.Errorf("limit: %w", err)
	}
	if f.Offset, err = parseInt(v.Get("offset"), 0, 0, 1<<30); err != nil {
		return f, fmt.Errorf("offset: %w", err)
	}
	return f.Normalize()
}

func (h *eventsHandler) listEvents(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "falco" {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("format %q: leave it out for JSON, or use falco for Falco json_output lines", format))
		return
	}
	f, err := ParseEventFilter(r.URL.Query())
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.st.List(r.Context(), f)
	if err != nil {
		h.logger.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, r, http.StatusInternalServerError, "the server could not complete the request; see its log")
		return
	}
	if format == "falco" {
		var body bytes.Buffer
		for _, e := range page.Items {
			body.Write(e.Raw)
			body.WriteByte('\n')
		}
		w.Header().Set("Content-Type", FalcoContentType)
		w.Header().Set("X-Total-Count", strconv.Itoa(page.Total))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body.Bytes()) // a write error means the client went away
		return
	}
	if page.Items == nil {
		page.Items = []eventstore.Event{}
	}
	writeJSON(w, http.StatusOK, List[eventstore.Event]{Total: page.Total, Limit: f.Limit, Offset: f.Offset, Items: page.Items})
}
