// Package apiclient is a typed client of kubeward's REST API (/api/v1), for
// the CLI and for programs that drive a running kubeward. It sends a bearer
// credential (an API token kwt_… or a JWT access token), decodes JSON
// answers into the API's own types and turns RFC 9457 problem answers into
// *Error values that carry the server's detail.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/api"
)

// DefaultTimeout bounds one request (connection, request and answer) when
// Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MaxResponseBytes bounds the answer body the client reads; a larger
// answer is an error rather than unbounded memory.
const MaxResponseBytes = 64 << 20

// maxProblemBytes bounds how much of a non-problem error body is quoted.
const maxProblemBytes = 4 << 10

// Sentinel errors an *Error matches with errors.Is, by HTTP status.
var (
	// ErrUnauthorized: the credential is missing, invalid, expired or
	// revoked (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credential's role does not allow the call (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the addressed object or route does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrBadRequest: the server refused the request as invalid (400).
	ErrBadRequest = errors.New("bad request")
)

// Options configure a Client.
type Options struct {
	// Token is the bearer credential: an API token (kwt_…) or a JWT
	// access token. Empty sends no Authorization header.
	Token string
	// Timeout bounds each request; zero means DefaultTimeout. It applies
	// only when HTTPClient is nil.
	Timeout time.Duration
	// HTTPClient replaces the default client (e.g. for custom TLS).
	HTTPClient *http.Client
	// UserAgent is sent with each request; empty means "kubeward-apiclient".
	UserAgent string
}

// Client calls one kubeward server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	userAgent string
}

// New returns a client of the server at baseURL (scheme, host and an
// optional path prefix, e.g. "http://127.0.0.1:8080").
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err == nil && ((u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		err = errors.New("no http or https scheme or no host")
	}
	if err != nil {
		return nil, fmt.Errorf("server URL %q: want http:// or https:// and a host, e.g. http://127.0.0.1:8080: %w", baseURL, err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: must not have a query or fragment", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	hc := opts.HTTPClient
	if hc == nil {
		timeout := opts.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		hc = &http.Client{Timeout: timeout}
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "kubeward-apiclient"
	}
	return &Client{base: u, token: strings.TrimSpace(opts.Token), http: hc, userAgent: ua}, nil
}

// BaseURL returns the server URL the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is an answer with a status of 400 or above. Problem holds the RFC
// 9457 problem the server sent; for a body that is not a problem, its
// Detail quotes the start of the body.
type Error struct {
	// Method and Path name the request that failed.
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// Problem is the server's problem details.
	Problem api.Problem
}

// Error formats the request, status and the server's detail.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Problem.Detail != "" {
		msg += ": " + e.Problem.Detail
	}
	return msg
}

// Is matches the sentinel error of e's status (ErrUnauthorized, …).
func (e *Error) Is(target error) bool {
	switch e.Status {
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusForbidden:
		return target == ErrForbidden
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusBadRequest:
		return target == ErrBadRequest
	}
	return false
}

// Do sends method to path (URL-escaped, relative to the base URL, e.g.
// "/api/v1/alerts"; escape variable segments with url.PathEscape) with query, body encoded as JSON when non-nil, and
// decodes a JSON answer into out when out is non-nil. Answers with status
// 400 or above return an *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return fmt.Errorf("%s %s: path is not URL-escaped correctly: %w", method, path, err)
	}
	u.Path = p
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode request body: %w", method, path, err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: cannot reach kubeward at %s (is it running, is the URL right?): %w", method, path, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.problem(resp, method, path)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
		return nil
	}
	lr := &io.LimitedReader{R: resp.Body, N: MaxResponseBytes + 1}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, MaxResponseBytes)
		}
		return fmt.Errorf("%s %s: answer is not the expected JSON (is %s a kubeward server?): %w", method, path, c.base, err)
	}
	return nil
}

// problem reads an error answer into an *Error.
func (c *Client) problem(resp *http.Response, method, path string) error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	if err != nil {
		e.Problem.Detail = "reading the error answer failed: " + err.Error()
		return e
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		if json.Unmarshal(data, &e.Problem) == nil && (e.Problem.Detail != "" || e.Problem.Title != "") {
			if e.Problem.Detail == "" {
				e.Problem.Detail = e.Problem.Title
			}
			return e
		}
	}
	e.Problem = api.Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: strings.Join(strings.Fields(string(data)), " ")}
	return e
}
