// Package api serves kubeward's REST API under /api/v1. Handlers translate
// HTTP to calls on the store and domain packages; they hold no domain logic.
//
// Each resource lives in a file of its own and registers its routes with
// addRoutes, so resources stay independent of one another.
package api

import (
	"log/slog"
	"net/http"

	"github.com/kubeward/kubeward/internal/store"
)

// MaxBodyBytes bounds every request body the API reads.
const MaxBodyBytes = 1 << 20

// Server holds the API's dependencies.
type Server struct {
	Store  store.Store
	Logger *slog.Logger
}

// routeSet registers one resource's routes on mux.
type routeSet func(s *Server, mux *http.ServeMux)

var routeSets []routeSet

// addRoutes registers a resource's routes; called from init functions.
func addRoutes(r routeSet) { routeSets = append(routeSets, r) }

// Handler returns the /api/v1 routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range routeSets {
		r(s, mux)
	}
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return http.MaxBytesHandler(mux, MaxBodyBytes)
}
