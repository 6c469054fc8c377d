// Package server runs kubeward's HTTP listener: health and readiness
// probes, Prometheus metrics, and whatever handlers the roles mount (the
// API, webhooks). It owns listening and graceful shutdown, nothing else.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kubeward_http_requests_total",
		Help: "HTTP requests served, by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	requestSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubeward_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"route"})
)

// Check is a named readiness check.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Server is the HTTP listener.
type Server struct {
	Addr   string
	Logger *slog.Logger

	mux     *http.ServeMux
	metrics atomic.Pointer[http.Handler]
	mu      sync.Mutex
	checks  []Check
	srv     *http.Server
	ln      net.Listener
}

// New returns a server for addr with /healthz, /readyz and /metrics.
func New(addr string, logger *slog.Logger) *Server {
	s := &Server{Addr: addr, Logger: logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	metrics := promhttp.Handler()
	s.metrics.Store(&metrics)
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		(*s.metrics.Load()).ServeHTTP(w, r)
	})
	return s
}

// ProtectMetrics wraps the /metrics handler, e.g. in the API's
// authentication: srv.ProtectMetrics(func(h http.Handler) http.Handler {
// return apiServer.RequireRole(auth.RoleViewer, h) }). /healthz and /readyz
// stay anonymous, for the kubelet.
func (s *Server) ProtectMetrics(wrap func(http.Handler) http.Handler) {
	h := wrap(promhttp.Handler())
	s.metrics.Store(&h)
}

// Handle mounts h under pattern (net/http ServeMux syntax). Requests are
// counted and timed by pattern.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, instrument(pattern, h))
}

// AddCheck adds a readiness check; /readyz answers 200 only when all pass.
func (s *Server) AddCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	checks := append([]Check(nil), s.checks...)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, body := http.StatusOK, ""
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			status = http.StatusServiceUnavailable
			body += fmt.Sprintf("[-] %s: %v\n", c.Name, err)
			continue
		}
		body += fmt.Sprintf("[+] %s ok\n", c.Name)
	}
	if status == http.StatusOK {
		body += "ready\n"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Listen binds the address, so callers learn a ":0" port before Serve.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	return nil
}

// Close releases a listener that Listen bound but Serve never served
// (the caller failed between the two); after Serve it does nothing, as
// Serve's shutdown closed the listener.
func (s *Server) Close() error {
	if s.srv != nil || s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	s.ln = nil
	return err
}

// Serve answers requests until ctx is cancelled, then shuts down
// gracefully, giving in-flight requests up to grace to finish.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.Logger.Info("listening", "addr", s.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func instrument(route string, h http.Handler) http.Handler {
	hist := requestSeconds.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		hist.Observe(time.Since(start).Seconds())
		requestsTotal.WithLabelValues(route, r.Method, strconv.Itoa(rec.code)).Inc()
	})
}

// ServeUntil serves srv on ln (over TLS with srv.TLSConfig when useTLS)
// until ctx ends, then shuts it down, giving in-flight requests up to
// grace. It is for the extra listeners some roles open (the admission
// webhook, the bouncers' Local API).
func ServeUntil(ctx context.Context, srv *http.Server, ln net.Listener, useTLS bool, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
