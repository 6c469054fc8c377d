package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

type alertsEnv struct {
	url       string
	clock     *alerttest.Clock
	dispatch  *dispatch.Dispatcher
	good, bad *alerttest.Recorder
	store     *sqlite.Store
}

// newAlertsEnv serves NewAlertsHandler over a real pipeline persisting to
// SQLite, with the sample alerts ingested at Base+20m (the CVE finding is
// resolved by then). Receiver "hook" posts to a webhook that accepts,
// "broken" to one that answers 500, "empty" has no integration.
func newAlertsEnv(t *testing.T) *alertsEnv {
	t.Helper()
	clock := alerttest.NewClock(alerttest.Base)
	e := &alertsEnv{clock: clock, good: alerttest.NewRecorder(t, clock), bad: alerttest.NewRecorder(t, clock, alerttest.Response{Status: http.StatusInternalServerError, Body: "boom"})}
	cfg, err := config.Load([]byte(`
route: {receiver: hook, group_by: [namespace]}
receivers:
  - name: hook
    webhook_configs: [{url: '` + e.good.URL + `'}]
  - name: broken
    webhook_configs: [{url: '` + e.bad.URL + `'}]
  - name: empty
`))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	e.store, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "alerts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	logger := slog.New(slog.DiscardHandler)
	e.dispatch, err = dispatch.New(dispatch.Options{Config: cfg, Storage: e.store, Integrations: ints, Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var in []alert.Alert
	for _, a := range alerttest.SampleAlerts() {
		in = append(in, *a)
	}
	clock.Advance(20 * time.Minute)
	if _, err := e.dispatch.Ingest(context.Background(), in...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewAlertsHandler(service.New(e.dispatch, e.store, cfg, ints, clock), logger))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// call sends a request and decodes a JSON answer into into (when not nil).
func (e *alertsEnv) call(t *testing.T, method, path, body string, into any) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if into != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s answered %d with %q, want application/problem+json", method, path, resp.StatusCode, ct)
		}
	}
	return resp.StatusCode, resp.Header, string(raw)
}

type alertPage struct {
	Total  int            `json:"total"`
	Limit  int            `json:"limit"`
	Offset int            `json:"offset"`
	Items  []service.View `json:"items"`
}

func names(vs []service.View) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name())
	}
	return strings.Join(out, ",")
}

func TestListAlertsRoute(t *testing.T) {
	e := newAlertsEnv(t)
	q := url.QueryEscape
	tests := []struct {
		query     string
		want      string // alert names, newest first
		wantTotal int
	}{
		{"", "PrivilegedContainer,TerminalShellInContainer,CVE-2024-3094", 3},
		{"?state=firing", "PrivilegedContainer,TerminalShellInContainer", 2},
		{"?state=resolved", "CVE-2024-3094", 1},
		{"?state=firing,resolved", "PrivilegedContainer,TerminalShellInContainer,CVE-2024-3094", 3},
		{"?severity=critical", "TerminalShellInContainer,CVE-2024-3094", 2},
		{"?severity=critical&state=firing", "TerminalShellInContainer", 1},
		{"?source=violation&source=finding", "PrivilegedContainer,CVE-2024-3094", 2},
		{"?filter=" + q(`alertname="PrivilegedContainer"`), "PrivilegedContainer", 1},
		{"?filter=" + q(`alertname=~"Terminal.*|CVE.*"`) + "&filter=" + q(`namespace="payments"`), "TerminalShellInContainer,CVE-2024-3094", 2},
		{"?filter=" + q(`namespace!="payments"`), "", 0},
		{"?acknowledged=false&muted=false", "PrivilegedContainer,TerminalShellInContainer,CVE-2024-3094", 3},
		{"?limit=1&offset=1", "TerminalShellInContainer", 3},
		{"?offset=10", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var page alertPage
			status, _, body := e.call(t, "GET", "/api/v1/alerts"+tt.query, "", &page)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if got := names(page.Items); got != tt.want || page.Total != tt.wantTotal {
				t.Errorf("got %q (total %d), want %q (total %d)", got, page.Total, tt.want, tt.wantTotal)
			}
			if page.Items == nil {
				t.Errorf("items is null, want a list: %s", body)
			}
			for _, v := range page.Items {
				if v.Fingerprint != v.Alert.Fingerprint().String() {
					t.Errorf("view fingerprint %s, want %s", v.Fingerprint, v.Alert.Fingerprint())
				}
			}
		})
	}
}

func TestListAlertsRouteRejectsBadQueries(t *testing.T) {
	e := newAlertsEnv(t)
	for _, query := range []string{
		"?state=pending", "?severity=urgent", "?source=feed", "?filter=" + url.QueryEscape("alertname~X"),
		"?filter=" + url.QueryEscape(`a=~"("`), "?muted=maybe", "?limit=0", "?limit=1001", "?offset=-1", "?receiver=hook",
	} {
		t.Run(query, func(t *testing.T) {
			status, _, body := e.call(t, "GET", "/api/v1/alerts"+query, "", nil)
			if status != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", status, body)
			}
		})
	}
}

func TestAcknowledgeRoute(t *testing.T) {
	e := newAlertsEnv(t)
	target := alerttest.SampleAlerts()[1]
	fp := target.Fingerprint().String()
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"bad fingerprint", "/api/v1/alerts/xyz/ack", `{"by":"alice"}`, http.StatusBadRequest},
		{"unknown alert", "/api/v1/alerts/0000000000000001/ack", `{"by":"alice"}`, http.StatusNotFound},
		{"who is missing", "/api/v1/alerts/" + fp + "/ack", `{"comment":"x"}`, http.StatusBadRequest},
		{"unknown field", "/api/v1/alerts/" + fp + "/ack", `{"by":"alice","when":"now"}`, http.StatusBadRequest},
		{"not JSON", "/api/v1/alerts/" + fp + "/ack", `by=alice`, http.StatusBadRequest},
		{"acknowledged", "/api/v1/alerts/" + strings.ToUpper(fp) + "/ack", `{"by":"alice","comment":"on it"}`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a alert.Alert
			status, _, body := e.call(t, "POST", tt.path, tt.body, &a)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if status == http.StatusOK && (a.Ack == nil || a.Ack.By != "alice" || a.Ack.Comment != "on it") {
				t.Errorf("answer ack %+v, want alice/on it", a.Ack)
			}
		})
	}
	// The acknowledgement is stored and listed.
	stored, err := e.store.GetAlert(context.Background(), target.Fingerprint())
	if err != nil || stored.Ack == nil || stored.Ack.By != "alice" {
		t.Fatalf("stored alert ack %+v (err %v), want alice's", stored.Ack, err)
	}
	var page alertPage
	e.call(t, "GET", "/api/v1/alerts?acknowledged=true", "", &page)
	if names(page.Items) != target.Name() {
		t.Errorf("acknowledged alerts %q, want %q", names(page.Items), target.Name())
	}
}

type silencePage struct {
	Total int             `json:"total"`
	Items []alert.Silence `json:"items"`
}

func TestSilenceRoutes(t *testing.T) {
	e := newAlertsEnv(t)
	ends := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	create := `{"matchers":[{"name":"alertname","type":"=","value":"TerminalShellInContainer"}],"endsAt":"` + ends + `","createdBy":"bob","comment":"maintenance"}`
	for _, tt := range []struct{ name, body string }{
		{"no matchers", `{"matchers":[],"endsAt":"` + ends + `","createdBy":"bob","comment":"c"}`},
		{"bad regexp", `{"matchers":[{"name":"a","type":"=~","value":"("}],"endsAt":"` + ends + `","createdBy":"bob","comment":"c"}`},
		{"ended", `{"matchers":[{"name":"a","type":"=","value":"b"}],"endsAt":"2000-01-01T00:00:00Z","createdBy":"bob","comment":"c"}`},
		{"no comment", `{"matchers":[{"name":"a","type":"=","value":"b"}],"endsAt":"` + ends + `","createdBy":"bob"}`},
		{"id given", `{"id":"mine","matchers":[{"name":"a","type":"=","value":"b"}],"endsAt":"` + ends + `","createdBy":"bob","comment":"c"}`},
		{"unknown field", `{"matcher":"a=b"}`},
	} {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			if status, _, body := e.call(t, "POST", "/api/v1/silences", tt.body, nil); status != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", status, body)
			}
		})
	}
	var sil alert.Silence
	status, hdr, body := e.call(t, "POST", "/api/v1/silences", create, &sil)
	if status != http.StatusCreated || sil.ID == "" || hdr.Get("Location") != "/api/v1/silences/"+sil.ID {
		t.Fatalf("create: status %d, Location %q: %s", status, hdr.Get("Location"), body)
	}
	// The silence mutes its alert.
	var page alertPage
	e.call(t, "GET", "/api/v1/alerts?muted=true", "", &page)
	if names(page.Items) != "TerminalShellInContainer" || !slices.Contains(page.Items[0].SilencedBy, sil.ID) {
		t.Errorf("muted alerts %q (silenced by %v), want TerminalShellInContainer by %s", names(page.Items), page.Items, sil.ID)
	}
	var sils silencePage
	e.call(t, "GET", "/api/v1/silences?state=active", "", &sils)
	if sils.Total != 1 || sils.Items[0].ID != sil.ID {
		t.Fatalf("active silences %+v, want %s", sils, sil.ID)
	}
	if status, _, body := e.call(t, "GET", "/api/v1/silences?state=sleeping", "", nil); status != http.StatusBadRequest {
		t.Errorf("bad state: status %d, want 400: %s", status, body)
	}
	// Expire it.
	if status, _, body := e.call(t, "DELETE", "/api/v1/silences/no-such-silence", "", nil); status != http.StatusNotFound {
		t.Errorf("expire unknown: status %d, want 404: %s", status, body)
	}
	var expired alert.Silence
	if status, _, body := e.call(t, "DELETE", "/api/v1/silences/"+sil.ID, "", &expired); status != http.StatusOK || !expired.EndsAt.Equal(e.clock.Now()) {
		t.Fatalf("expire: status %d, ends %v, want now %v: %s", status, expired.EndsAt, e.clock.Now(), body)
	}
	e.call(t, "GET", "/api/v1/silences?state=active", "", &sils)
	if sils.Total != 0 || len(sils.Items) != 0 {
		t.Errorf("active silences after expiry: %+v", sils)
	}
	e.call(t, "GET", "/api/v1/silences?state=expired&limit=1", "", &sils)
	if sils.Total != 1 || sils.Items[0].ID != sil.ID {
		t.Errorf("expired silences %+v, want %s", sils, sil.ID)
	}
	e.call(t, "GET", "/api/v1/alerts?muted=true", "", &page)
	if page.Total != 0 {
		t.Errorf("alerts still muted after expiry: %q", names(page.Items))
	}
}

func TestReceiverTestRoute(t *testing.T) {
	e := newAlertsEnv(t)
	tests := []struct {
		receiver string
		status   int
		failed   bool
	}{
		{"hook", http.StatusOK, false},
		{"broken", http.StatusBadGateway, true},
		{"empty", http.StatusNotFound, false},
		{"nobody", http.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.receiver, func(t *testing.T) {
			status, _, body := e.call(t, "POST", "/api/v1/receivers/"+tt.receiver+"/test", "", nil)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.status == http.StatusNotFound {
				return
			}
			var rt api.ReceiverTest
			if err := json.Unmarshal([]byte(body), &rt); err != nil {
				t.Fatal(err)
			}
			if rt.Receiver != tt.receiver || len(rt.Results) != 1 || (rt.Results[0].Error != "") != tt.failed {
				t.Errorf("answer %+v, want one result for %s, failed %v", rt, tt.receiver, tt.failed)
			}
		})
	}
	if n := len(e.good.Requests()); n != 1 {
		t.Errorf("the working webhook got %d requests, want 1", n)
	}
	if n := len(e.bad.Requests()); n != 1 {
		t.Errorf("the broken webhook got %d requests, want 1 (no retries)", n)
	}
}

func TestAlertsHandlerUnknownRoute(t *testing.T) {
	e := newAlertsEnv(t)
	if status, _, body := e.call(t, "GET", "/api/v1/alerts/"+alerttest.SampleAlerts()[0].Fingerprint().String(), "", nil); status != http.StatusNotFound {
		t.Errorf("status %d, want 404: %s", status, body)
	}
}

func TestAlertRoutesDeclareRoles(t *testing.T) {
	for _, rt := range api.AlertRoutes(nil, nil) {
		if rt.Role == 0 || rt.Summary == "" || rt.Handler == nil {
			t.Errorf("%s %s: role %v, summary %q", rt.Method, rt.Path, rt.Role, rt.Summary)
		}
		if (rt.Method == "GET") != (rt.Role.String() == "viewer") {
			t.Errorf("%s %s requires %s: reads need viewer, changes operator", rt.Method, rt.Path, rt.Role)
		}
	}
}
