package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfterSeconds bounds the Retry-After delay honoured.
const maxRetryAfterSeconds = 24 * 3600

// maxErrorBody bounds how much of an error response body is quoted in an
// error message.
const maxErrorBody = 1024

// RetryAfterError is returned by a receiver when the endpoint asked to be
// retried no sooner than After (HTTP 429 or 503 with Retry-After). The
// retry stage waits at least that long before the next attempt.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

// Error implements error.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Post sends body to url with the given content type and extra headers and
// classifies the answer: 2xx is success; 429, 5xx and transport errors are
// worth retrying; other statuses are not. A Retry-After header (seconds or
// an HTTP date, relative to now) on a 429 or 503 becomes a
// *RetryAfterError.
func Post(ctx context.Context, client *http.Client, url, contentType string, body []byte, header http.Header, now time.Time) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "kubeward-alert")
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("POST %s: %w", redact(url), err)
	}
	defer resp.Body.Close()
	return CheckResponse(resp, now)
}

// CheckResponse classifies an HTTP response as Post does and drains its
// body.
func CheckResponse(resp *http.Response, now time.Time) (retry bool, err error) {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err = fmt.Errorf("%s answered %s: %s", redact(resp.Request.URL.String()), resp.Status, oneLine(snippet))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return true, &RetryAfterError{After: d, Err: err}
		}
		return true, err
	case resp.StatusCode/100 == 5:
		return true, err
	default:
		return false, err
	}
}

// oneLine collapses the whitespace of an error body and bounds its length,
// so that an HTML error page reads as one short line in logs.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Bound it (a day is far beyond any group interval) so that a
		// hostile value cannot overflow the duration.
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// redact drops the path and query of a URL for error messages: Slack and
// other webhook URLs carry their secret in the path.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "<url>"
	}
	host, _, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	return scheme + "://" + host + "/…"
}

// retryAfter extracts the delay a *RetryAfterError in err's chain asks for.
func retryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}
