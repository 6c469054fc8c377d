// Package api serves kubeward's REST API under /api/v1. Handlers translate
// HTTP to calls on the store and domain packages; they hold no domain logic.
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

// Handler returns the /api/v1 routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/cves", s.listCVEs)
	mux.HandleFunc("GET /api/v1/cves/stats", s.cveStats)
	mux.HandleFunc("GET /api/v1/cves/{id}", s.getCVE)
	mux.HandleFunc("GET /api/v1/dead-letters", s.listDeadLetters)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	return http.MaxBytesHandler(mux, MaxBodyBytes)
}
