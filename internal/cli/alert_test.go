package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/alert/silence"
	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// alertAPI is a real kubeward API (SQLite store, auth service, alert
// pipeline built as serve builds it) on a loopback listener.
type alertAPI struct {
	url                      string
	operator, viewer         string // API token secrets
	privileged, knownExploit alert.Alert
}

func startAlertAPI(t *testing.T) *alertAPI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kubeward.db"))
	if err != nil {
		t.Fatalf("open the SQLite store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	authSvc, err := auth.NewService(ctx, st, auth.Config{Logger: logger})
	if err != nil {
		t.Fatalf("auth service: %v", err)
	}
	if _, _, err := authSvc.Bootstrap(ctx, "admin", ""); err != nil {
		t.Fatalf("bootstrap the administrator: %v", err)
	}
	admin := auth.Principal{Name: "admin", Role: auth.RoleAdmin, Kind: auth.KindUser}
	if _, err := authSvc.CreateUser(ctx, "oncall", "a long enough password 1", auth.RoleOperator); err != nil {
		t.Fatalf("create user oncall: %v", err)
	}
	operator, _, err := authSvc.CreateAPIToken(ctx, auth.Principal{Name: "oncall", Role: auth.RoleOperator, Kind: auth.KindUser}, "cli", auth.RoleOperator, 0)
	if err != nil {
		t.Fatalf("create operator token: %v", err)
	}
	viewer, _, err := authSvc.CreateAPIToken(ctx, admin, "dashboard", auth.RoleViewer, 0)
	if err != nil {
		t.Fatalf("create viewer token: %v", err)
	}
	al, err := (&alertFlags{}).build(ctx, &App{Logger: logger}, st)
	if err != nil {
		t.Fatalf("build the alert pipeline: %v", err)
	}
	srv := &api.Server{Store: st, Logger: logger, Auth: authSvc, ExtraRoutes: api.AlertRoutes(al.service, logger)}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	now := time.Now().UTC()
	a := &alertAPI{
		url: ts.URL, operator: operator, viewer: viewer,
		privileged: alert.Alert{
			Labels:   alert.LabelSet{"alertname": "PrivilegedPod", "namespace": "prod", "pod": "web-1"},
			Severity: alert.SeverityHigh, Source: alert.SourceDetection, StartsAt: now.Add(-time.Minute),
		},
		knownExploit: alert.Alert{
			Labels:   alert.LabelSet{"alertname": "KnownExploitedCVE", "namespace": "dev", "image": "nginx:1.25"},
			Severity: alert.SeverityCritical, Source: alert.SourceFinding, StartsAt: now.Add(-2 * time.Minute),
		},
	}
	res, err := al.dispatcher.Ingest(ctx, a.privileged, a.knownExploit)
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("ingest alerts: %v %+v", err, res.Rejected)
	}
	// The pipeline mirrors severity and source into the labels, which
	// the fingerprint covers.
	for _, x := range []*alert.Alert{&a.privileged, &a.knownExploit} {
		if err := x.Normalize(); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// runCLI runs kubeward with args and returns stdout, stderr and the exit
// code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func fingerprints(t *testing.T, out string) []string {
	t.Helper()
	var page api.List[service.View]
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("alert list -o json is not a list of alerts: %v\n%s", err, out)
	}
	fps := make([]string, 0, len(page.Items))
	for _, v := range page.Items {
		fps = append(fps, v.Fingerprint)
	}
	slices.Sort(fps)
	return fps
}

func TestAlertListFilters(t *testing.T) {
	a := startAlertAPI(t)
	priv, kev := a.privileged.Fingerprint().String(), a.knownExploit.Fingerprint().String()
	both := []string{priv, kev}
	slices.Sort(both)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"all", nil, both},
		{"state firing", []string{"--state", "firing"}, both},
		{"state resolved", []string{"--state", "resolved"}, []string{}},
		{"severity", []string{"--severity", "critical"}, []string{kev}},
		{"severities", []string{"--severity", "critical,high"}, both},
		{"source", []string{"--source", "detection"}, []string{priv}},
		{"filter", []string{"--filter", `alertname="PrivilegedPod"`}, []string{priv}},
		{"filter regexp", []string{"--filter", `namespace=~"d.*"`}, []string{kev}},
		{"filters all match", []string{"--filter", `namespace="prod"`, "--filter", `alertname="KnownExploitedCVE"`}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"alert", "list", "--server", a.url, "--token", a.viewer, "-o", "json"}, tc.args...)
			out, stderr, code := runCLI(t, args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := fingerprints(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("fingerprints %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAlertListTable(t *testing.T) {
	a := startAlertAPI(t)
	out, stderr, code := runCLI(t, "alert", "list", "--server", a.url, "--token", a.viewer, "--limit", "1")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Header, the newest alert, the paging note.
	if len(lines) != 3 {
		t.Fatalf("want header, one row and a paging note, got:\n%s", out)
	}
	row := strings.Fields(lines[1])
	want := []string{a.privileged.Fingerprint().String(), "firing", "high", "detection", "PrivilegedPod"}
	if len(row) < len(want) || !slices.Equal(row[:len(want)], want) {
		t.Errorf("row %q, want it to start with %q", lines[1], want)
	}
	if !strings.Contains(lines[1], `namespace="prod",pod="web-1"`) {
		t.Errorf("row %q lacks the other labels", lines[1])
	}
	if !strings.Contains(lines[2], "1 of 2 alerts") {
		t.Errorf("paging note %q, want 1 of 2 alerts", lines[2])
	}
}

func TestAlertCLIErrors(t *testing.T) {
	a := startAlertAPI(t)
	fp := a.privileged.Fingerprint().String()
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"bad token", []string{"alert", "list", "--server", a.url, "--token", "kwt_not-a-real-token"},
			[]string{"401 Unauthorized", "invalid, expired or revoked", "refused the credential", "--token"}},
		{"no token", []string{"alert", "list", "--server", a.url},
			[]string{"401 Unauthorized", "no credential was given", "KUBEWARD_TOKEN"}},
		{"viewer cannot ack", []string{"alert", "ack", fp, "--server", a.url, "--token", a.viewer},
			[]string{"403 Forbidden", "role does not allow"}},
		{"unknown alert", []string{"alert", "ack", "00000000000000ff", "--server", a.url, "--token", a.operator},
			[]string{"404 Not Found", "alert 00000000000000ff is not stored"}},
		{"not a fingerprint", []string{"alert", "ack", "xyz", "--server", a.url, "--token", a.operator},
			[]string{`"xyz" is not an alert fingerprint`}},
		{"bad severity", []string{"alert", "list", "--server", a.url, "--token", a.viewer, "--severity", "urgent"},
			[]string{`--severity "urgent"`}},
		{"bad filter", []string{"alert", "list", "--server", a.url, "--token", a.viewer, "--filter", "alertname"},
			[]string{"--filter", "matcher"}},
		{"silence without comment", []string{"alert", "silence", "add", "--server", a.url, "--token", a.operator, "--matcher", `alertname="X"`},
			[]string{"--comment is required"}},
		{"unknown silence", []string{"alert", "silence", "expire", "nosuchsilence", "--server", a.url, "--token", a.operator},
			[]string{"404 Not Found", `silence "nosuchsilence" does not exist`}},
		{"bad server URL", []string{"alert", "list", "--server", "127.0.0.1:8080"},
			[]string{"--server", "want http:// or https://"}},
		{"server not reachable", []string{"alert", "list", "--server", "http://" + freeAddr(t), "--token", a.viewer},
			[]string{"cannot reach kubeward"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, tc.args...)
			if code != ExitError {
				t.Fatalf("exit %d, want %d; stdout:\n%s", code, ExitError, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
}

// TestAlertAckAndSilence acknowledges an alert and silences it, reading
// the server and the credential from the environment.
func TestAlertAckAndSilence(t *testing.T) {
	a := startAlertAPI(t)
	t.Setenv("KUBEWARD_SERVER", a.url)
	t.Setenv("KUBEWARD_TOKEN", a.operator)
	fp := a.privileged.Fingerprint().String()

	out, stderr, code := runCLI(t, "alert", "ack", fp, "--comment", "looking into it", "-o", "json")
	if code != ExitOK {
		t.Fatalf("alert ack: exit %d: %s", code, stderr)
	}
	var acked alert.Alert
	if err := json.Unmarshal([]byte(out), &acked); err != nil {
		t.Fatalf("alert ack -o json: %v\n%s", err, out)
	}
	// The server records the token's owner, not the name the CLI claims.
	if acked.Ack == nil || acked.Ack.By != "oncall" || acked.Ack.Comment != "looking into it" {
		t.Fatalf("ack = %+v, want by oncall with the comment", acked.Ack)
	}
	out, stderr, code = runCLI(t, "alert", "list", "-o", "json", "--filter", `alertname="PrivilegedPod"`)
	if code != ExitOK {
		t.Fatalf("alert list: exit %d: %s", code, stderr)
	}
	var page api.List[service.View]
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("alert list after ack: %v\n%s", err, out)
	}
	if page.Items[0].Ack == nil || page.Items[0].Ack.By != "oncall" {
		t.Errorf("listed alert ack = %+v, want by oncall", page.Items[0].Ack)
	}

	out, stderr, code = runCLI(t, "alert", "silence", "add", "--matcher", `alertname="PrivilegedPod"`, "--matcher", `namespace=~"prod|staging"`,
		"--duration", "3h", "--comment", "maintenance window")
	if code != ExitOK {
		t.Fatalf("silence add: exit %d: %s", code, stderr)
	}
	id := strings.TrimSpace(out)
	if id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("silence add printed %q, want the silence ID", out)
	}

	out, stderr, code = runCLI(t, "alert", "list", "-o", "json", "--filter", `alertname="PrivilegedPod"`)
	if code != ExitOK {
		t.Fatalf("alert list: exit %d: %s", code, stderr)
	}
	page = api.List[service.View]{}
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("alert list after silence: %v\n%s", err, out)
	}
	if !slices.Contains(page.Items[0].SilencedBy, id) {
		t.Errorf("alert silenced by %v, want %s", page.Items[0].SilencedBy, id)
	}

	silences := func(state string) []alert.Silence {
		t.Helper()
		out, stderr, code := runCLI(t, "alert", "silence", "list", "-o", "json", "--state", state)
		if code != ExitOK {
			t.Fatalf("silence list: exit %d: %s", code, stderr)
		}
		var sp api.List[alert.Silence]
		if err := json.Unmarshal([]byte(out), &sp); err != nil {
			t.Fatalf("silence list -o json: %v\n%s", err, out)
		}
		return sp.Items
	}
	active := silences("active")
	if len(active) != 1 || active[0].ID != id || active[0].CreatedBy != "oncall" || active[0].Comment != "maintenance window" {
		t.Fatalf("active silences = %+v, want %s by oncall", active, id)
	}
	if d := active[0].EndsAt.Sub(active[0].StartsAt); d < 3*time.Hour-time.Second || d > 3*time.Hour+time.Second {
		t.Errorf("silence lasts %s, want 3h", d)
	}
	if got := len(active[0].Matchers); got != 2 {
		t.Errorf("silence has %d matchers, want 2", got)
	}

	out, stderr, code = runCLI(t, "alert", "silence", "list")
	if code != ExitOK {
		t.Fatalf("silence list: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, id) || !strings.Contains(out, "active") || !strings.Contains(out, `namespace=~"prod|staging"`) {
		t.Errorf("silence list table lacks the silence:\n%s", out)
	}

	out, stderr, code = runCLI(t, "alert", "silence", "expire", id)
	if code != ExitOK || !strings.Contains(out, "expired "+id) {
		t.Fatalf("silence expire: exit %d: %s%s", code, out, stderr)
	}
	if got := silences("active"); len(got) != 0 {
		t.Errorf("active silences after expire = %+v, want none", got)
	}
	expired := silences("expired")
	if len(expired) != 1 || expired[0].ID != id || silence.StateAt(&expired[0], time.Now()) != silence.StateExpired {
		t.Errorf("expired silences = %+v, want %s", expired, id)
	}
}
