package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: " https://kubeward.example.com/prefix/ ", want: "https://kubeward.example.com/prefix"},
		{in: "127.0.0.1:8080", err: "want http:// or https://"},
		{in: "ftp://host", err: "want http:// or https://"},
		{in: "http://", err: "want http:// or https://"},
		{in: "http://host/?a=b", err: "query or fragment"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := New(tc.in, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New(%q) error %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tc.want {
				t.Errorf("BaseURL %q, want %q", got, tc.want)
			}
		})
	}
}

// TestErrors checks that error answers become *Error values carrying the
// server's detail and matching the sentinel of their status.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		sentinel    error
		detail      string
	}{
		{"problem 401", 401, "application/problem+json", `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"the token is invalid"}`, ErrUnauthorized, "the token is invalid"},
		{"problem 403", 403, "application/problem+json; charset=utf-8", `{"title":"Forbidden","status":403,"detail":"needs operator"}`, ErrForbidden, "needs operator"},
		{"problem 404 no detail", 404, "application/problem+json", `{"title":"Not Found","status":404}`, ErrNotFound, "Not Found"},
		{"problem 400", 400, "application/problem+json", `{"status":400,"detail":"state \"x\": want firing or resolved"}`, ErrBadRequest, `state "x": want firing or resolved`},
		{"plain text proxy error", 502, "text/plain", "upstream\nconnect error", nil, "upstream connect error"},
		{"broken problem", 500, "application/problem+json", `{"detail":`, nil, `{"detail":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			c, err := New(ts.URL, Options{Token: "kwt_x"})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Do(context.Background(), "GET", "/api/v1/alerts", nil, nil, nil)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Status != tc.status || e.Problem.Detail != tc.detail {
				t.Errorf("status %d detail %q, want %d %q", e.Status, e.Problem.Detail, tc.status, tc.detail)
			}
			for _, s := range []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrBadRequest} {
				if got := errors.Is(err, s); got != (s == tc.sentinel) {
					t.Errorf("errors.Is(err, %v) = %v", s, got)
				}
			}
			if !strings.Contains(err.Error(), "GET /api/v1/alerts") || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("message %q lacks the request or the detail", err)
			}
		})
	}
}

// TestRequest checks what the client sends: the path under the base URL's
// prefix, the query, the bearer credential and the JSON body.
func TestRequest(t *testing.T) {
	var got *http.Request
	var body string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[],"total":0,"limit":5,"offset":0}`)
	}))
	defer ts.Close()
	c, err := New(ts.URL+"/kw/", Options{Token: "kwt_secret"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := alert.ParseMatcher(`namespace=~"prod-.*"`)
	if err != nil {
		t.Fatal(err)
	}
	f := service.Filter{States: []string{"firing"}, Severities: []alert.Severity{"critical", "high"}, Matchers: []alert.Matcher{m}, Limit: 5}
	if _, err := c.ListAlerts(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/kw/api/v1/alerts" || got.Header.Get("Authorization") != "Bearer kwt_secret" {
		t.Errorf("request %s with Authorization %q", got.URL.Path, got.Header.Get("Authorization"))
	}
	q := got.URL.Query()
	if !slices.Equal(q["severity"], []string{"critical", "high"}) || q.Get("state") != "firing" ||
		q.Get("filter") != `namespace=~"prod-.*"` || q.Get("limit") != "5" || q.Has("offset") {
		t.Errorf("query %v", q)
	}
	if _, err := c.CreateSilence(context.Background(), alert.Silence{Comment: "why", Matchers: []alert.Matcher{m}}); err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"comment":"why"`) {
		t.Errorf("create silence sent %s %q %q", got.Method, got.Header.Get("Content-Type"), body)
	}
	if _, err := c.ExpireSilence(context.Background(), "a/b"); err != nil {
		t.Fatal(err)
	}
	if got.Method != "DELETE" || got.URL.EscapedPath() != "/kw/api/v1/silences/a%2Fb" {
		t.Errorf("expire sent %s %s", got.Method, got.URL.EscapedPath())
	}
}

func TestNotJSON(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>a login page</html>")
	}))
	defer ts.Close()
	c, err := New(ts.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListSilences(context.Background(), SilenceQuery{})
	if err == nil || !strings.Contains(err.Error(), "not the expected JSON") {
		t.Errorf("error %v, want one saying the answer is not JSON", err)
	}
}

// FuzzProblem feeds arbitrary error answers (untrusted server input) to
// the problem decoder: it must never panic, must keep the status and must
// give a readable message.
func FuzzProblem(f *testing.F) {
	f.Add(401, "application/problem+json", `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"no"}`)
	f.Add(502, "text/html", "<html>bad gateway</html>")
	f.Add(500, "application/json", `{"status":"x"}`)
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		if status < 400 || status > 599 {
			return
		}
		c := &Client{base: &url.URL{Scheme: "http", Host: "h"}}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(strings.NewReader(body))}
		err := c.problem(resp, "GET", "/p")
		var e *Error
		if !errors.As(err, &e) || e.Status != status {
			t.Fatalf("problem(%d) = %v", status, err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "GET /p: ") || (utf8.ValidString(body) && !utf8.ValidString(msg)) {
			t.Errorf("message %q", msg)
		}
	})
}
