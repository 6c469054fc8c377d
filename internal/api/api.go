// Package api serves kubeward's REST API under /api/v1. Handlers translate
// HTTP to calls on the store and domain packages; they hold no domain logic.
//
// Each resource lives in a file of its own and declares its routes with
// declareRoutes. Every route names the minimum role it requires
// (auth.RoleAnonymous only for the login and refresh endpoints); the route
// table drives the mux, the authentication and authorization middleware,
// the audit log of mutating calls and the OpenAPI document alike.
package api

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

// MaxBodyBytes bounds every request body the API reads.
const MaxBodyBytes = 1 << 20

// Server holds the API's dependencies.
type Server struct {
	Store  store.Store
	Logger *slog.Logger
	// Auth authenticates callers, authorizes them by role and keeps the
	// audit log. When it is nil and InsecureNoAuth is false, every route
	// answers 503: the API never runs open by accident.
	Auth *auth.Service
	// InsecureNoAuth serves every request as a local administrator, with
	// no credentials. Only for a single-user laptop on loopback.
	InsecureNoAuth bool
	// CORSOrigins are the origins allowed to call the API from a browser
	// (exact match, e.g. "https://console.example.com"). Empty: no CORS
	// headers are sent, so browsers refuse cross-origin calls.
	CORSOrigins []string
	// TrustProxy says the API is reached only through one reverse proxy
	// (an ingress) that appends the client address to X-Forwarded-For; the
	// last entry then names the client for login throttling and the audit
	// log. Leave it false when clients can connect directly: they could
	// forge the header.
	TrustProxy bool
	// ExtraRoutes are routes whose handlers need services the Server does
	// not hold, e.g. AlertRoutes(alertService, logger). They are guarded,
	// audited and documented like the declared ones.
	ExtraRoutes []Route
}

// Route is one API operation: what it answers, who may call it, and how
// the OpenAPI document describes it.
type Route struct {
	// Method is the HTTP method, e.g. "GET".
	Method string
	// Path is the ServeMux path pattern, e.g. "/api/v1/cves/{id}".
	Path string
	// Role is the least role allowed to call the route.
	Role auth.Role
	// Summary is a one-line description for the OpenAPI document.
	Summary string
	// Query lists the query parameters the route reads.
	Query []Param
	// Request names the components schema of the JSON request body; empty
	// when the route reads no body.
	Request string
	// Response names the components schema of the success body; empty
	// when the route answers without one.
	Response string
	// Status is the success status; default 200.
	Status int
	// MaxBodyBytes bounds the request body; 0 means MaxBodyBytes. Only
	// routes that stream uploads raise it.
	MaxBodyBytes int64
	// Handler answers the request.
	Handler http.HandlerFunc
}

// Param documents a query parameter.
type Param struct {
	Name        string
	Type        string // "string", "integer" or "boolean"
	Description string
}

// bodyLimit is the most request body bytes the route reads.
func (r Route) bodyLimit() int64 {
	if r.MaxBodyBytes > 0 {
		return r.MaxBodyBytes
	}
	return MaxBodyBytes
}

// pattern is the route's ServeMux pattern.
func (r Route) pattern() string { return r.Method + " " + r.Path }

// routeTable returns one resource's routes for s.
type routeTable func(s *Server) []Route

var routeTables []routeTable

// declareRoutes adds a resource's routes; called from init functions.
func declareRoutes(t routeTable) { routeTables = append(routeTables, t) }

// Routes returns the API's route table (declared routes and ExtraRoutes),
// sorted by path then method. The handlers are bound to s.
func (s *Server) Routes() []Route {
	var rs []Route
	for _, t := range routeTables {
		rs = append(rs, t(s)...)
	}
	rs = append(rs, s.ExtraRoutes...)
	slices.SortFunc(rs, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return rs
}

// Handler returns the /api/v1 routes.
func (s *Server) Handler() http.Handler {
	return s.withCommonHeaders(s.cors(s.mux()))
}

// mux builds the ServeMux of every declared route, each wrapped in
// authentication, authorization and auditing.
func (s *Server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.Handle(rt.pattern(), http.MaxBytesHandler(s.guard(rt), rt.bodyLimit()))
	}
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return mux
}
