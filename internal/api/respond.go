package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/ipban"
)

// ActorHeader names the request header the response routes take the actor
// of the audit trail from when no authenticated principal is attached to
// the request (NewRespondHandler mounted outside Server). Whatever sits in
// front of the handler must set it and strip any value sent by clients.
const ActorHeader = "X-Kubeward-User"

// RespondDeps are the services the response routes use. View, Decisions
// and Bouncers may be nil: their routes then answer 503.
type RespondDeps struct {
	Manager   *respond.Manager
	View      *cluster.View
	Decisions crowdsec.Store
	Bouncers  crowdsec.BouncerStore
	Logger    *slog.Logger
	// Now is the clock for decision listings (time.Now when nil).
	Now func() time.Time
}

// NewRespondHandler serves the response routes on a plain mux: actions
// (apply with dry_run/ttl/reason, audit trail, revert), cluster info, the
// workloads' image inventory, the service map, decisions (bans) and bouncer keys. The actor is read from
// ActorHeader; mutating requests without one get 401. Inside kubeward serve
// prefer Server.ExtraRoutes = RespondRoutes(…), which adds authentication,
// roles, the audit log and the OpenAPI document.
func NewRespondHandler(mgr *respond.Manager, view *cluster.View, decisions crowdsec.Store, bouncers crowdsec.BouncerStore, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range RespondRoutes(RespondDeps{Manager: mgr, View: view, Decisions: decisions, Bouncers: bouncers, Logger: logger}) {
		mux.HandleFunc(rt.pattern(), rt.Handler)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		mux.ServeHTTP(w, r)
	})
}

// RespondRoutes returns the response routes for Server.ExtraRoutes.
func RespondRoutes(d RespondDeps) []Route {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &respondHandler{RespondDeps: d}
	return []Route{
		{Method: "GET", Path: "/api/v1/actions", Role: auth.RoleViewer, Handler: h.listActions,
			Summary: "List response actions, oldest first",
			Query: []Param{
				{Name: "state", Type: "string", Description: "pending, applied, reverting, dry-run, reverted, expired or failed (comma separated)"},
				{Name: "kind", Type: "string", Description: "action kind, e.g. ingress-nginx-rate-limit"},
				limitParam, offsetParam,
			}},
		{Method: "POST", Path: "/api/v1/actions", Role: auth.RoleOperator, Handler: h.applyAction, Status: http.StatusCreated,
			Summary: "Apply a reversible response action (dry_run: validate on the apiserver only)"},
		{Method: "GET", Path: "/api/v1/actions/{id}", Role: auth.RoleViewer, Handler: h.getAction,
			Summary: "One response action with its audit trail"},
		{Method: "POST", Path: "/api/v1/actions/{id}/revert", Role: auth.RoleOperator, Handler: h.revertAction,
			Summary: "Revert an applied response action before its TTL"},
		{Method: "GET", Path: "/api/v1/cluster", Role: auth.RoleViewer, Handler: h.clusterInfo,
			Summary: "Cluster version, nodes, namespaces and workload counts"},
		{Method: "GET", Path: "/api/v1/cluster/images", Role: auth.RoleViewer, Handler: h.clusterImages,
			Summary: "Images each workload declares and its Pods run (image IDs, digests, Pod counts)",
			Query: []Param{
				{Name: "namespace", Type: "string", Description: "only this namespace (default: all)"},
				{Name: "image", Type: "string", Description: "only workloads declaring or running this image: a reference (nginx:1.27; no tag means latest) or a sha256 digest (matched against image IDs)"},
				limitParam, offsetParam,
			}},
		{Method: "GET", Path: "/api/v1/service-map", Role: auth.RoleViewer, Handler: h.serviceMap,
			Summary: "Ingress → Service → workload → Pod graph with the NetworkPolicies that select each workload and Pod (selection only; rules are not evaluated)",
			Query:   []Param{{Name: "namespace", Type: "string", Description: "only this namespace (default: all)"}}},
		{Method: "GET", Path: "/api/v1/decisions", Role: auth.RoleViewer, Handler: h.listDecisions,
			Summary: "Active IP and range decisions served to CrowdSec bouncers",
			Query: []Param{
				{Name: "ip", Type: "string", Description: "decisions covering this address"},
				{Name: "range", Type: "string", Description: "decisions covering this CIDR range"},
				{Name: "type", Type: "string", Description: "ban or captcha"},
				{Name: "scope", Type: "string", Description: "ip or range"},
				limitParam, offsetParam,
			}},
		{Method: "POST", Path: "/api/v1/decisions", Role: auth.RoleOperator, Handler: h.addDecision, Status: http.StatusCreated,
			Summary: "Ban (or captcha) an IP or range for a TTL, as an ip-ban response action"},
		{Method: "DELETE", Path: "/api/v1/decisions/{id}", Role: auth.RoleOperator, Handler: h.deleteDecision,
			Summary: "End a decision now (reverts its ip-ban action when it has one)"},
		{Method: "POST", Path: "/api/v1/bouncers", Role: auth.RoleAdmin, Handler: h.createBouncer, Status: http.StatusCreated,
			Summary: "Register a CrowdSec bouncer; the API key is shown once"},
	}
}

type respondHandler struct {
	RespondDeps
}

// respondActor returns who is calling: the authenticated principal, else
// ActorHeader. It answers 401 itself and returns false when there is none.
func respondActor(w http.ResponseWriter, r *http.Request) (string, bool) {
	if p, ok := PrincipalFrom(r.Context()); ok {
		if a := p.Actor(); a != "" {
			return a, true
		}
	}
	if a := strings.TrimSpace(r.Header.Get(ActorHeader)); a != "" {
		return a, true
	}
	writeProblem(w, r, http.StatusUnauthorized, "no authenticated user: the audit trail needs one (set by authentication, or the "+ActorHeader+" header)")
	return "", false
}

// pageParams parses limit and offset; it answers 400 itself on bad input.
func pageParams(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	q := r.URL.Query()
	limit, err := parseInt(q.Get("limit"), 50, 1, 1000)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "limit: "+err.Error())
		return 0, 0, false
	}
	if offset, err = parseInt(q.Get("offset"), 0, 0, 1<<30); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "offset: "+err.Error())
		return 0, 0, false
	}
	return limit, offset, true
}

// page returns the list envelope for items[offset:offset+limit].
func page[T any](items []T, limit, offset int) map[string]any {
	total := len(items)
	lo, hi := min(offset, total), min(offset+limit, total)
	out := items[lo:hi]
	if out == nil {
		out = []T{}
	}
	return map[string]any{"items": out, "total": total, "limit": limit, "offset": offset}
}

// actionStatus maps a Manager error to an HTTP status.
func actionStatus(err error) int {
	switch {
	case errors.Is(err, respond.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, respond.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, respond.ErrBusy), errors.Is(err, respond.ErrStale), errors.Is(err, respond.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusBadGateway
}

func (h *respondHandler) listActions(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	f := respond.Filter{Kind: respond.Kind(r.URL.Query().Get("kind"))}
	for _, s := range strings.Split(r.URL.Query().Get("state"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			f.States = append(f.States, respond.State(s))
		}
	}
	list, err := h.Manager.Store().List(r.Context(), f)
	if err != nil {
		h.fail(w, r, "list actions", err)
		return
	}
	writeJSON(w, http.StatusOK, page(list, limit, offset))
}

// ActionRequest is the body of POST /api/v1/actions.
type ActionRequest struct {
	Kind   respond.Kind      `json:"kind"`
	Target respond.Target    `json:"target"`
	Params map[string]string `json:"params,omitempty"`
	// TTL is a Go duration, e.g. "30m" or "4h".
	TTL    string `json:"ttl"`
	DryRun bool   `json:"dry_run,omitempty"`
	Reason string `json:"reason"`
}

// ActionDetail is an action with its audit trail.
type ActionDetail struct {
	respond.Action
	Events []respond.Event `json:"events"`
}

func (h *respondHandler) applyAction(w http.ResponseWriter, r *http.Request) {
	who, ok := respondActor(w, r)
	if !ok {
		return
	}
	var body ActionRequest
	if !decodeBody(w, r, &body) {
		return
	}
	ttl, ok := parseTTL(w, r, body.TTL)
	if !ok {
		return
	}
	h.apply(w, r, respond.Request{Kind: body.Kind, Target: body.Target, Params: body.Params, TTL: ttl,
		DryRun: body.DryRun, Actor: who, Reason: body.Reason})
}

// parseTTL reads an action's TTL, answering 400 when it is not a duration.
func parseTTL(w http.ResponseWriter, r *http.Request, s string) (time.Duration, bool) {
	ttl, err := time.ParseDuration(s)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("ttl %q: give a duration such as 30m or 4h", s))
		return 0, false
	}
	return ttl, true
}

// apply runs req and answers with the recorded action: 201 when applied
// or dry-run, the mapped error status otherwise (a failed apply is
// recorded; its ID is in the problem detail).
func (h *respondHandler) apply(w http.ResponseWriter, r *http.Request, req respond.Request) {
	a, err := h.Manager.Apply(r.Context(), req)
	if err != nil {
		if a.ID != "" {
			h.Logger.WarnContext(r.Context(), "respond: action failed", "action", a.ID, "kind", a.Kind, "target", a.Target.String(), "err", err)
			writeProblem(w, r, actionStatus(err), fmt.Sprintf("action %s failed: %v", a.ID, err))
			return
		}
		writeProblem(w, r, actionStatus(err), err.Error())
		return
	}
	w.Header().Set("Location", "/api/v1/actions/"+url.PathEscape(a.ID))
	writeJSON(w, http.StatusCreated, a)
}

func (h *respondHandler) getAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a, err := h.Manager.Store().Get(r.Context(), id)
	if errors.Is(err, respond.ErrNotFound) {
		writeProblem(w, r, http.StatusNotFound, "no response action "+id)
		return
	}
	if err != nil {
		h.fail(w, r, "read action", err)
		return
	}
	events, err := h.Manager.Store().Events(r.Context(), id)
	if err != nil {
		h.fail(w, r, "read audit trail", err)
		return
	}
	if events == nil {
		events = []respond.Event{}
	}
	writeJSON(w, http.StatusOK, ActionDetail{Action: a, Events: events})
}

// RevertRequest is the body of POST /api/v1/actions/{id}/revert.
type RevertRequest struct {
	Reason string `json:"reason"`
}

func (h *respondHandler) revertAction(w http.ResponseWriter, r *http.Request) {
	who, ok := respondActor(w, r)
	if !ok {
		return
	}
	var body RevertRequest
	if !decodeBody(w, r, &body) {
		return
	}
	if strings.TrimSpace(body.Reason) == "" {
		writeProblem(w, r, http.StatusBadRequest, "reason is required for the audit trail")
		return
	}
	h.revert(w, r, r.PathValue("id"), who, body.Reason)
}

func (h *respondHandler) revert(w http.ResponseWriter, r *http.Request, id, who, reason string) {
	a, err := h.Manager.Revert(r.Context(), id, who, reason)
	switch {
	case errors.Is(err, respond.ErrInvalid):
		// The reason is checked above, so this is an action in the wrong state.
		writeProblem(w, r, http.StatusConflict, err.Error())
	case err != nil:
		writeProblem(w, r, actionStatus(err), err.Error())
	default:
		writeJSON(w, http.StatusOK, a)
	}
}

func (h *respondHandler) clusterInfo(w http.ResponseWriter, r *http.Request) {
	if h.View == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "no Kubernetes cluster is configured (give kubeward a kubeconfig or run it in a cluster)")
		return
	}
	info, err := h.View.Info(r.Context())
	if err != nil {
		h.fail(w, r, "read cluster info", err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *respondHandler) serviceMap(w http.ResponseWriter, r *http.Request) {
	if h.View == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "no Kubernetes cluster is configured (give kubeward a kubeconfig or run it in a cluster)")
		return
	}
	m, err := h.View.ServiceMap(r.URL.Query().Get("namespace"))
	if err != nil {
		h.fail(w, r, "build service map", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// DecisionView is a decision as the API shows it.
type DecisionView struct {
	ID        int64     `json:"id"`
	UUID      string    `json:"uuid"`
	Origin    string    `json:"origin"`
	Type      string    `json:"type"`
	Scope     string    `json:"scope"`
	Value     string    `json:"value"`
	Scenario  string    `json:"scenario"`
	Simulated bool      `json:"simulated,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Until     time.Time `json:"until"`
}

func decisionView(d crowdsec.Decision) DecisionView {
	return DecisionView{ID: d.ID, UUID: d.UUID, Origin: d.Origin, Type: d.Type, Scope: d.Scope, Value: d.Value,
		Scenario: d.Scenario, Simulated: d.Simulated, CreatedAt: d.CreatedAt, Until: d.Until}
}

func (h *respondHandler) decisionsConfigured(w http.ResponseWriter, r *http.Request) bool {
	if h.Decisions == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "the decisions store is not configured")
		return false
	}
	return true
}

func (h *respondHandler) listDecisions(w http.ResponseWriter, r *http.Request) {
	if !h.decisionsConfigured(w, r) {
		return
	}
	limit, offset, ok := pageParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	q.Del("limit")
	q.Del("offset")
	f, err := crowdsec.ParseDecisionsQuery(q)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	last, err := h.Decisions.LastID(r.Context())
	if err != nil {
		h.fail(w, r, "read last decision id", err)
		return
	}
	list, err := h.Decisions.Active(r.Context(), h.Now(), &f, 0, last)
	if err != nil {
		h.fail(w, r, "list decisions", err)
		return
	}
	views := make([]DecisionView, len(list))
	for i := range list {
		views[i] = decisionView(list[i])
	}
	writeJSON(w, http.StatusOK, page(views, limit, offset))
}

// DecisionRequest is the body of POST /api/v1/decisions.
type DecisionRequest struct {
	// Value is an IP address or a CIDR range.
	Value string `json:"value"`
	// Type is "ban" (default) or "captcha".
	Type string `json:"type,omitempty"`
	// TTL is a Go duration, e.g. "4h".
	TTL    string `json:"ttl"`
	DryRun bool   `json:"dry_run,omitempty"`
	Reason string `json:"reason"`
}

func (h *respondHandler) addDecision(w http.ResponseWriter, r *http.Request) {
	who, ok := respondActor(w, r)
	if !ok {
		return
	}
	var body DecisionRequest
	if !decodeBody(w, r, &body) {
		return
	}
	ttl, ok := parseTTL(w, r, body.TTL)
	if !ok {
		return
	}
	scope := ipban.TargetIP
	if strings.Contains(body.Value, "/") {
		scope = ipban.TargetRange
	}
	var params map[string]string
	if body.Type != "" {
		params = map[string]string{ipban.ParamType: body.Type}
	}
	h.apply(w, r, respond.Request{Kind: ipban.Kind, Target: respond.Target{Kind: scope, Name: body.Value},
		Params: params, TTL: ttl, DryRun: body.DryRun, Actor: who, Reason: body.Reason})
}

// deleteDecision ends a decision. When an applied ip-ban action made it,
// the action is reverted instead, so the audit trail records who ended it.
func (h *respondHandler) deleteDecision(w http.ResponseWriter, r *http.Request) {
	if !h.decisionsConfigured(w, r) {
		return
	}
	who, ok := respondActor(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("decision id %q is not a positive integer", r.PathValue("id")))
		return
	}
	reason := r.URL.Query().Get("reason")
	if reason == "" {
		reason = "decision deleted through the API"
	}
	actions, err := h.Manager.Store().List(r.Context(), respond.Filter{Kind: ipban.Kind, States: []respond.State{respond.StateApplied}})
	if err != nil {
		h.fail(w, r, "look up the action of the decision", err)
		return
	}
	for _, a := range actions {
		if did, ok := ipban.DecisionID(a); ok && did == id {
			h.revert(w, r, a.ID, who, reason)
			return
		}
	}
	d, err := h.Decisions.Delete(r.Context(), id)
	if errors.Is(err, crowdsec.ErrNotFound) {
		writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("no decision %d (it may have been pruned)", id))
		return
	}
	if err != nil {
		h.fail(w, r, "delete decision", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "respond: decision deleted", "decision", id, "value", d.Value, "actor", who, "reason", reason)
	writeJSON(w, http.StatusOK, decisionView(d))
}

// BouncerRequest is the body of POST /api/v1/bouncers.
type BouncerRequest struct {
	Name string `json:"name"`
}

// BouncerCreated is the answer of POST /api/v1/bouncers; Key is shown once.
type BouncerCreated struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

func (h *respondHandler) createBouncer(w http.ResponseWriter, r *http.Request) {
	if h.Bouncers == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "the bouncer store is not configured")
		return
	}
	who, ok := respondActor(w, r)
	if !ok {
		return
	}
	var body BouncerRequest
	if !decodeBody(w, r, &body) {
		return
	}
	if strings.TrimSpace(body.Name) == "" {
		writeProblem(w, r, http.StatusBadRequest, "name is required")
		return
	}
	key, err := crowdsec.GenerateKey()
	if err != nil {
		h.fail(w, r, "generate key", err)
		return
	}
	if err := h.Bouncers.Add(r.Context(), body.Name, key); err != nil {
		if errors.Is(err, crowdsec.ErrBouncerExists) {
			writeProblem(w, r, http.StatusConflict, err.Error())
			return
		}
		h.fail(w, r, "register bouncer", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "crowdsec: bouncer registered", "bouncer", body.Name, "actor", who)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, BouncerCreated{Name: body.Name, Key: key})
}

func (h *respondHandler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.Logger.ErrorContext(r.Context(), "api: "+what, "err", err)
	writeProblem(w, r, http.StatusInternalServerError, what+" failed; see the server log")
}
