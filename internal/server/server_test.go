package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProtectMetrics(t *testing.T) {
	s := New("127.0.0.1:0", slog.New(slog.DiscardHandler))
	get := func(path string) int {
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if code := get("/metrics"); code != http.StatusOK {
		t.Fatalf("unprotected /metrics = %d, want 200", code)
	}
	s.ProtectMetrics(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer ok" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	for path, want := range map[string]int{"/metrics": http.StatusUnauthorized, "/healthz": http.StatusOK, "/readyz": http.StatusOK} {
		if code := get(path); code != want {
			t.Errorf("GET %s after ProtectMetrics = %d, want %d", path, code, want)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer ok")
	s.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("authorized /metrics = %d, want 200", rec.Code)
	}
}
