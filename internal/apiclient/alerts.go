package apiclient

import (
	"context"
	"net/url"
	"strconv"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/alert/silence"
	"github.com/kubeward/kubeward/internal/api"
)

// AlertQuery encodes f as the query parameters of GET /api/v1/alerts; it
// is the inverse of api.ParseAlertFilter. Zero fields are left out, so the
// server's defaults apply.
func AlertQuery(f service.Filter) url.Values {
	q := url.Values{}
	for _, s := range f.States {
		q.Add("state", s)
	}
	for _, s := range f.Severities {
		q.Add("severity", string(s))
	}
	for _, s := range f.Sources {
		q.Add("source", string(s))
	}
	for _, m := range f.Matchers {
		q.Add("filter", m.String())
	}
	if f.Muted != nil {
		q.Set("muted", strconv.FormatBool(*f.Muted))
	}
	if f.Acknowledged != nil {
		q.Set("acknowledged", strconv.FormatBool(*f.Acknowledged))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	return q
}

// ListAlerts returns one page of the alerts f selects, most recently
// started first (GET /api/v1/alerts).
func (c *Client) ListAlerts(ctx context.Context, f service.Filter) (api.List[service.View], error) {
	var out api.List[service.View]
	err := c.Do(ctx, "GET", "/api/v1/alerts", AlertQuery(f), nil, &out)
	return out, err
}

// Ack acknowledges the current firing episode of the alert with
// fingerprint (16 hex digits) and returns the stored alert (POST
// /api/v1/alerts/{fingerprint}/ack). req.By matters only when the server
// runs without authentication; otherwise the caller is recorded.
func (c *Client) Ack(ctx context.Context, fingerprint string, req api.AckRequest) (alert.Alert, error) {
	var out alert.Alert
	err := c.Do(ctx, "POST", "/api/v1/alerts/"+url.PathEscape(fingerprint)+"/ack", nil, req, &out)
	return out, err
}

// SilenceQuery selects silences for ListSilences. Zero fields do not
// filter; a zero Limit means the server's default page size.
type SilenceQuery struct {
	States        []silence.State
	Limit, Offset int
}

// ListSilences returns one page of silences by start time (GET
// /api/v1/silences).
func (c *Client) ListSilences(ctx context.Context, sq SilenceQuery) (api.List[alert.Silence], error) {
	q := url.Values{}
	for _, s := range sq.States {
		q.Add("state", string(s))
	}
	if sq.Limit > 0 {
		q.Set("limit", strconv.Itoa(sq.Limit))
	}
	if sq.Offset > 0 {
		q.Set("offset", strconv.Itoa(sq.Offset))
	}
	var out api.List[alert.Silence]
	err := c.Do(ctx, "GET", "/api/v1/silences", q, nil, &out)
	return out, err
}

// CreateSilence creates sil (its ID must be empty; the server assigns
// one) and returns it as stored (POST /api/v1/silences).
func (c *Client) CreateSilence(ctx context.Context, sil alert.Silence) (alert.Silence, error) {
	var out alert.Silence
	err := c.Do(ctx, "POST", "/api/v1/silences", nil, sil, &out)
	return out, err
}

// ExpireSilence ends the silence id now and returns it (DELETE
// /api/v1/silences/{id}).
func (c *Client) ExpireSilence(ctx context.Context, id string) (alert.Silence, error) {
	var out alert.Silence
	err := c.Do(ctx, "DELETE", "/api/v1/silences/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}
