package alerttest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is one request received by a Recorder.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	// At is the fake clock's time when the request arrived.
	At time.Time
}

// Response is a scripted answer of a Recorder.
type Response struct {
	Status int
	Header map[string]string
	Body   string
}

// Recorder is an HTTP server on 127.0.0.1 that records every request and
// answers them with scripted responses in order, then with 200 "ok".
type Recorder struct {
	// URL is the server's base URL.
	URL string

	clock     *Clock
	mu        sync.Mutex
	requests  []Request
	responses []Response
}

// NewRecorder starts a Recorder; it is closed when the test ends.
func NewRecorder(t *testing.T, clock *Clock, responses ...Response) *Recorder {
	t.Helper()
	r := &Recorder{clock: clock, responses: responses}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Recorder) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	rec := Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body}
	if r.clock != nil {
		rec.At = r.clock.Now()
	}
	r.requests = append(r.requests, rec)
	resp := Response{Status: http.StatusOK, Body: "ok"}
	if len(r.responses) > 0 {
		resp, r.responses = r.responses[0], r.responses[1:]
	}
	r.mu.Unlock()
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.Status)
	_, _ = io.WriteString(w, resp.Body)
}

// Script appends responses to the script.
func (r *Recorder) Script(responses ...Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.responses = append(r.responses, responses...)
}

// Requests returns the requests received so far.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Request, len(r.requests))
	copy(out, r.requests)
	return out
}
