package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/auth/oidclogin"
	"github.com/kubeward/kubeward/internal/auth/oidclogin/fakeidp"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery"

// authEnv is an API server with authentication and one user per role.
type authEnv struct {
	t    testing.TB
	srv  *httptest.Server
	api  *Server
	svc  *auth.Service
	st   *sqlite.Store
	user map[auth.Role]string
}

func newAuthEnv(t testing.TB) *authEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	// Cheap argon2id parameters: the matrix logs in hundreds of times.
	svc, err := auth.NewService(ctx, st, auth.Config{Password: auth.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	e := &authEnv{t: t, api: &Server{Store: st, Auth: svc}, svc: svc, st: st, user: map[auth.Role]string{
		auth.RoleViewer: "vera", auth.RoleOperator: "oscar", auth.RoleAdmin: "alice",
	}}
	for role, name := range e.user {
		if _, err := svc.CreateUser(ctx, name, testPassword, role); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// login returns a fresh access token for role's user.
func (e *authEnv) login(role auth.Role) auth.TokenPair {
	e.t.Helper()
	pair, err := e.svc.Login(context.Background(), e.user[role], testPassword, "127.0.0.1:1")
	if err != nil {
		e.t.Fatalf("login as %s: %v", role, err)
	}
	return pair
}

// apiToken returns a new API token secret with role, owned by role's user.
func (e *authEnv) apiToken(role auth.Role) string {
	e.t.Helper()
	secret, _, err := e.svc.CreateAPIToken(context.Background(),
		auth.Principal{Name: e.user[role], Role: role, Kind: auth.KindUser}, "test", role, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// do sends a request and returns the status, headers and body.
func (e *authEnv) do(method, path, token string, body any) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

var pathParamRE = regexp.MustCompile(`\{[^}]+\}`)

// samplePath fills a route's path parameters with plausible values.
func samplePath(path string) string {
	return pathParamRE.ReplaceAllStringFunc(path, func(p string) string {
		if p == "{id}" && strings.HasPrefix(path, "/api/v1/cves/") {
			return "CVE-2024-0001"
		}
		return "sample"
	})
}

// TestRouteRoleMatrix calls every registered route as every kind of caller
// and checks that authentication and the route's role decide the outcome:
// 401 without a valid credential, 403 below the route's role, and anything
// but 401/403/5xx otherwise.
func TestRouteRoleMatrix(t *testing.T) {
	e := newAuthEnv(t)
	type caller struct {
		name  string
		role  auth.Role
		token func() string
	}
	callers := []caller{{name: "anonymous", role: auth.RoleAnonymous, token: func() string { return "" }}}
	for _, role := range []auth.Role{auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin} {
		callers = append(callers,
			caller{name: role.String() + " session", role: role, token: func() string { return e.login(role).AccessToken }},
			caller{name: role.String() + " API token", role: role, token: func() string { return e.apiToken(role) }})
	}
	routes := e.api.Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes registered; the route table is not being read", len(routes))
	}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.Method+" "+rt.Path+"/"+c.name, func(t *testing.T) {
				var body any
				if rt.Request != "" {
					body = "{}"
				}
				code, hdr, b := e.do(rt.Method, samplePath(rt.Path), c.token(), body)
				switch {
				case rt.Role != auth.RoleAnonymous && c.role == auth.RoleAnonymous:
					if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("status %d (WWW-Authenticate %q), want 401 with a Bearer challenge: %s", code, hdr.Get("WWW-Authenticate"), b)
					}
				case !c.role.Allows(rt.Role):
					if code != http.StatusForbidden {
						t.Errorf("status %d, want 403 (route needs %s): %s", code, rt.Role, b)
					}
				default:
					if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
						t.Errorf("status %d, want an answer from the handler (route needs %s): %s", code, rt.Role, b)
					}
				}
				if ct := hdr.Get("Content-Type"); code >= 400 && ct != "application/problem+json" {
					t.Errorf("error answered with Content-Type %q, want application/problem+json", ct)
				}
			})
		}
	}
}

func TestEveryRouteDeclaresARole(t *testing.T) {
	var anonymous []string
	for _, rt := range (&Server{}).Routes() {
		if rt.Role < auth.RoleAnonymous || rt.Role > auth.RoleAdmin {
			t.Errorf("%s declares no valid role (%s)", rt.pattern(), rt.Role)
		}
		if rt.Role == auth.RoleAnonymous {
			anonymous = append(anonymous, rt.pattern())
		}
		if rt.Summary == "" || rt.Handler == nil {
			t.Errorf("%s has no summary or no handler", rt.pattern())
		}
	}
	want := []string{"POST /api/v1/auth/login", "GET /api/v1/auth/oidc/callback", "GET /api/v1/auth/oidc/login", "POST /api/v1/auth/refresh"}
	if !slices.Equal(anonymous, want) {
		t.Errorf("anonymous routes = %v, want only %v", anonymous, want)
	}
}

// TestOpenAPIMatchesRoutes fails when a registered route is missing from
// the served document or the document lists a route the mux does not
// serve.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newAuthEnv(t)
	// The alert and response routes are mounted as ExtraRoutes; they must be documented
	// too. Their handlers are not called here.
	e.api.ExtraRoutes = slices.Concat(AlertRoutes(nil, nil), RespondRoutes(RespondDeps{}), EventRoutes(nil, nil), ScanRoutes(ScanDeps{}), ClusterVulnRoutes(ClusterVulnDeps{}))
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)
	code, _, body := e.do("GET", "/api/v1/openapi.json", e.login(auth.RoleViewer).AccessToken, nil)
	if code != http.StatusOK {
		t.Fatalf("GET openapi.json: %d %s", code, body)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			documented[strings.ToUpper(method)+" "+path] = true
			id, _ := op["operationId"].(string)
			if prev, dup := ids[id]; dup || id == "" {
				t.Errorf("operationId %q of %s %s is empty or also used by %s", id, method, path, prev)
			}
			ids[id] = method + " " + path
		}
	}
	mux := e.api.mux()
	registered := map[string]bool{}
	for _, rt := range e.api.Routes() {
		registered[rt.pattern()] = true
		if !documented[rt.pattern()] {
			t.Errorf("registered route %s is missing from the OpenAPI document", rt.pattern())
		}
	}
	for op := range documented {
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, samplePath(path), nil)
		if _, pattern := mux.Handler(req); pattern != op || !registered[op] {
			t.Errorf("the document lists %s, but the mux routes it to %q", op, pattern)
		}
	}
	refs := regexp.MustCompile(`"\$ref":\s*"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) == 0 {
		t.Error("the document refers to no schemas")
	}
	for _, m := range refs {
		if _, ok := doc.Components.Schemas[m[1]]; !ok {
			t.Errorf("$ref to undefined schema %s", m[1])
		}
	}
}

func TestDocsPage(t *testing.T) {
	e := newAuthEnv(t)
	code, hdr, body := e.do("GET", "/api/v1/docs", e.login(auth.RoleViewer).AccessToken, nil)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET docs: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, rt := range e.api.Routes() {
		if !bytes.Contains(body, []byte("<code>"+rt.Path+"</code>")) {
			t.Errorf("docs page does not list %s", rt.Path)
		}
	}
}

func TestLoginRefreshLogoutFlow(t *testing.T) {
	e := newAuthEnv(t)
	code, _, body := e.do("POST", "/api/v1/auth/login", "", LoginRequest{Username: "oscar", Password: testPassword})
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	var pair auth.TokenPair
	if err := json.Unmarshal(body, &pair); err != nil || pair.AccessToken == "" || pair.TokenType != "Bearer" {
		t.Fatalf("login body %s: %v", body, err)
	}
	if code, _, b := e.do("GET", "/api/v1/cves", pair.AccessToken, nil); code != http.StatusOK {
		t.Errorf("GET cves with the access token: %d %s", code, b)
	}
	code, _, body = e.do("POST", "/api/v1/auth/refresh", "", RefreshRequest{RefreshToken: pair.RefreshToken})
	var next auth.TokenPair
	if code != http.StatusOK || json.Unmarshal(body, &next) != nil {
		t.Fatalf("refresh: %d %s", code, body)
	}
	if code, _, _ := e.do("POST", "/api/v1/auth/refresh", "", RefreshRequest{RefreshToken: pair.RefreshToken}); code != http.StatusUnauthorized {
		t.Errorf("reusing a refresh token: %d, want 401", code)
	}
	if code, _, b := e.do("POST", "/api/v1/auth/logout", next.AccessToken, LogoutRequest{RefreshToken: next.RefreshToken}); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, b)
	}
	for _, tc := range []struct{ name, method, path, token string }{
		{"revoked access token", "GET", "/api/v1/cves", next.AccessToken},
		{"tampered token", "GET", "/api/v1/cves", pair.AccessToken[:len(pair.AccessToken)-4] + "AAAA"},
		{"garbage", "GET", "/api/v1/cves", "garbage"},
	} {
		if code, hdr, _ := e.do(tc.method, tc.path, tc.token, nil); code != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d, want 401 invalid_token", tc.name, code)
		}
	}
	if code, _, _ := e.do("POST", "/api/v1/auth/refresh", "", RefreshRequest{RefreshToken: next.RefreshToken}); code != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d, want 401", code)
	}
	// A stale token in the header does not stop a login.
	if code, _, b := e.do("POST", "/api/v1/auth/login", next.AccessToken, LoginRequest{Username: "oscar", Password: testPassword}); code != http.StatusOK {
		t.Errorf("login with a stale Authorization header: %d %s", code, b)
	}
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"wrong password", LoginRequest{Username: "oscar", Password: "wrong password!"}, http.StatusUnauthorized},
		{"unknown field", `{"username":"oscar","password":"x","admin":true}`, http.StatusBadRequest},
		{"two objects", `{"username":"oscar","password":"x"}{}`, http.StatusBadRequest},
		{"not json", `username=oscar`, http.StatusBadRequest},
		{"too big", `{"username":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, http.StatusBadRequest},
	} {
		if code, _, b := e.do("POST", "/api/v1/auth/login", "", tc.body); code != tc.want {
			t.Errorf("login %s: %d, want %d: %s", tc.name, code, tc.want, b)
		}
	}
}

func TestLoginThrottledOverHTTP(t *testing.T) {
	e := newAuthEnv(t)
	for range 5 {
		e.do("POST", "/api/v1/auth/login", "", LoginRequest{Username: "vera", Password: "wrong password!"})
	}
	code, hdr, body := e.do("POST", "/api/v1/auth/login", "", LoginRequest{Username: "vera", Password: testPassword})
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Errorf("login after 5 failures: %d (Retry-After %q) %s, want 429 with Retry-After", code, hdr.Get("Retry-After"), body)
	}
}

func TestTokensAndUsersOverHTTP(t *testing.T) {
	e := newAuthEnv(t)
	admin := e.login(auth.RoleAdmin).AccessToken
	viewer := e.login(auth.RoleViewer).AccessToken
	code, _, body := e.do("POST", "/api/v1/tokens", viewer, CreateTokenRequest{Name: "ci", Role: auth.RoleViewer, ExpiresIn: "720h"})
	var created CreatedToken
	if code != http.StatusCreated || json.Unmarshal(body, &created) != nil || !strings.HasPrefix(created.Token, auth.APITokenPrefix) || created.ExpiresAt == nil {
		t.Fatalf("create token: %d %s", code, body)
	}
	if code, _, b := e.do("GET", "/api/v1/cves/stats", created.Token, nil); code != http.StatusOK {
		t.Errorf("using the new API token: %d %s", code, b)
	}
	if code, _, _ := e.do("POST", "/api/v1/tokens", viewer, CreateTokenRequest{Name: "x", Role: auth.RoleAdmin}); code != http.StatusForbidden {
		t.Errorf("viewer creating an admin token: %d, want 403", code)
	}
	code, _, body = e.do("GET", "/api/v1/tokens", viewer, nil)
	var list List[TokenView]
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || list.Total != 1 || list.Items[0].ID != created.ID {
		t.Errorf("viewer's tokens: %d %s", code, body)
	}
	if bytes.Contains(body, []byte(created.Token)) {
		t.Error("the token list shows the secret")
	}
	if code, _, _ := e.do("DELETE", "/api/v1/tokens/"+created.ID, viewer, nil); code != http.StatusNoContent {
		t.Errorf("delete own token: %d", code)
	}
	if code, _, _ := e.do("GET", "/api/v1/cves/stats", created.Token, nil); code != http.StatusUnauthorized {
		t.Errorf("deleted token: %d, want 401", code)
	}
	code, _, body = e.do("POST", "/api/v1/users", admin, CreateUserRequest{Username: "newbie", Password: "a long enough one", Role: auth.RoleOperator})
	if code != http.StatusCreated || bytes.Contains(body, []byte("argon2")) {
		t.Fatalf("create user: %d %s", code, body)
	}
	if code, _, _ := e.do("POST", "/api/v1/users", admin, CreateUserRequest{Username: "newbie", Password: "a long enough one", Role: auth.RoleOperator}); code != http.StatusConflict {
		t.Errorf("duplicate user: %d, want 409", code)
	}
	code, _, body = e.do("GET", "/api/v1/users", admin, nil)
	var users List[UserView]
	if code != http.StatusOK || json.Unmarshal(body, &users) != nil || users.Total != 4 || bytes.Contains(body, []byte("argon2")) {
		t.Errorf("list users: %d %s", code, body)
	}
}

func TestAuditLogRecordsMutatingCalls(t *testing.T) {
	e := newAuthEnv(t)
	admin := e.login(auth.RoleAdmin).AccessToken
	viewer := e.login(auth.RoleViewer).AccessToken
	calls := []struct {
		method, path, token string
		body                any
		actor               string
		status              int
	}{
		{"POST", "/api/v1/auth/login", "", LoginRequest{Username: "mallory", Password: "guessing password"}, "mallory", 401},
		{"POST", "/api/v1/users", viewer, CreateUserRequest{Username: "x", Password: "a long enough one", Role: auth.RoleAdmin}, "vera", 403},
		{"POST", "/api/v1/users", admin, CreateUserRequest{Username: "newbie", Password: "a long enough one", Role: auth.RoleViewer}, "alice", 201},
	}
	for _, c := range calls {
		if code, _, b := e.do(c.method, c.path, c.token, c.body); code != c.status {
			t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, code, c.status, b)
		}
	}
	// Refused for want of a credential: not audited.
	for _, token := range []string{"", "garbage"} {
		if code, _, _ := e.do("DELETE", "/api/v1/tokens/nope", token, nil); code != http.StatusUnauthorized {
			t.Fatalf("anonymous DELETE: %d, want 401", code)
		}
	}
	e.do("GET", "/api/v1/cves", viewer, nil) // reads are not audited
	code, _, body := e.do("GET", "/api/v1/audit-log?limit=100", admin, nil)
	var log List[AuditView]
	if code != http.StatusOK || json.Unmarshal(body, &log) != nil {
		t.Fatalf("audit log: %d %s", code, body)
	}
	if log.Total != len(calls) {
		t.Errorf("audit log has %d entries, want %d: %s", log.Total, len(calls), body)
	}
	for i, c := range calls {
		got := log.Items[len(calls)-1-i] // newest first
		if got.Actor != c.actor || got.Status != c.status || got.Target != c.path || !strings.HasPrefix(got.Action, c.method+" ") || got.Source == "" || got.Time.IsZero() {
			t.Errorf("entry for %s %s = %+v, want actor %s status %d", c.method, c.path, got, c.actor, c.status)
		}
	}
	code, _, body = e.do("GET", "/api/v1/audit-log?actor=alice", admin, nil)
	if code != http.StatusOK || json.Unmarshal(body, &log) != nil || log.Total != 1 {
		t.Errorf("audit log for alice: %d %s", code, body)
	}
	if code, _, _ := e.do("GET", "/api/v1/audit-log?limit=0", admin, nil); code != http.StatusBadRequest {
		t.Errorf("limit=0: %d, want 400", code)
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	e := newAuthEnv(t)
	token := e.login(auth.RoleViewer).AccessToken
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/cves", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Cache-Control": "no-store", "Access-Control-Allow-Origin": "",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", resp.Header.Get("Content-Security-Policy"))
	}

	e.api.CORSOrigins = []string{"https://console.example"}
	cors := httptest.NewServer(e.api.Handler())
	defer cors.Close()
	for _, tc := range []struct {
		origin, method string
		wantAllow      string
		wantStatus     int
	}{
		{"https://console.example", "OPTIONS", "https://console.example", http.StatusNoContent},
		{"https://evil.example", "OPTIONS", "", http.StatusNotFound},
		{"https://console.example", "GET", "https://console.example", http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, cors.URL+"/api/v1/cves", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Authorization", "Bearer "+token)
		if tc.method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "GET")
		}
		resp, err := cors.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || resp.Header.Get("Access-Control-Allow-Origin") != tc.wantAllow {
			t.Errorf("%s from %s: %d, allow %q; want %d, %q", tc.method, tc.origin, resp.StatusCode,
				resp.Header.Get("Access-Control-Allow-Origin"), tc.wantStatus, tc.wantAllow)
		}
	}
}

func TestWithoutAuthService(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for _, tc := range []struct {
		name     string
		api      *Server
		path     string
		wantCode int
	}{
		{"not configured: fail closed", &Server{Store: st}, "/api/v1/cves", http.StatusServiceUnavailable},
		{"insecure: open", &Server{Store: st, InsecureNoAuth: true}, "/api/v1/users", http.StatusNotFound},
		{"insecure: cves", &Server{Store: st, InsecureNoAuth: true}, "/api/v1/cves", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		tc.api.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.wantCode {
			t.Errorf("%s: GET %s = %d, want %d: %s", tc.name, tc.path, rec.Code, tc.wantCode, rec.Body)
		}
	}
}

func TestRequireRole(t *testing.T) {
	e := newAuthEnv(t)
	h := e.api.RequireRole(auth.RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, "metrics")
	}))
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"", http.StatusUnauthorized},
		{e.login(auth.RoleViewer).AccessToken, http.StatusForbidden},
		{e.login(auth.RoleOperator).AccessToken, http.StatusOK},
	} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("token %.10q: %d, want %d", tc.token, rec.Code, tc.want)
		}
	}
}

func TestClientAddress(t *testing.T) {
	for _, tc := range []struct {
		trust bool
		xff   []string
		want  string
	}{
		{false, []string{"203.0.113.7"}, "192.0.2.1:1234"},
		{true, nil, "192.0.2.1:1234"},
		{true, []string{"203.0.113.7"}, "203.0.113.7"},
		{true, []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"}, // the proxy appended the last one
		{true, []string{"198.51.100.1", "203.0.113.8"}, "203.0.113.8"},
		{true, []string{" "}, "192.0.2.1:1234"},
	} {
		req := httptest.NewRequest("POST", "/api/v1/auth/login", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := (&Server{TrustProxy: tc.trust}).clientAddr(req); got != tc.want {
			t.Errorf("trust=%v X-Forwarded-For=%q: client %q, want %q", tc.trust, tc.xff, got, tc.want)
		}
	}
}

// oidcEnv is an API server whose auth service logs users in through an
// in-process OpenID Connect provider (fakeidp) on 127.0.0.1.
type oidcEnv struct {
	*authEnv
	idp *fakeidp.IdP
	// client does not follow redirects, as the tests play the browser.
	client *http.Client
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	idp := fakeidp.Start(t, "kubeward", "client-secret")
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	prov, err := oidclogin.New(ctx, oidclogin.Config{
		Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		RedirectURL: srv.URL + "/api/v1/auth/oidc/callback",
		AdminGroups: []string{"kw-admins"}, OperatorGroups: []string{"kw-operators", "sre"},
	})
	if err != nil {
		t.Fatalf("oidclogin.New: %v", err)
	}
	svc, err := auth.NewService(ctx, st, auth.Config{Password: auth.PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}, IdentityProvider: prov})
	if err != nil {
		t.Fatal(err)
	}
	e := &authEnv{t: t, srv: srv, api: &Server{Store: st, Auth: svc}, svc: svc, st: st, user: map[auth.Role]string{}}
	h = e.api.Handler()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &oidcEnv{authEnv: e, idp: idp, client: client}
}

// get sends a GET with the given cookies and returns the response, body
// read.
func (e *oidcEnv) get(rawURL string, cookies ...*http.Cookie) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

func TestOIDCLogin(t *testing.T) {
	e := newOIDCEnv(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	user := func(groups ...string) func(*fakeidp.IdP, string) map[string]any {
		return func(p *fakeidp.IdP, nonce string) map[string]any {
			cl := p.Claims("u-123", nonce)
			cl["email"], cl["email_verified"], cl["groups"] = "Ada@Example.com", true, groups
			return cl
		}
	}
	for _, tc := range []struct {
		name string
		// claims builds the ID token's claims for the login's nonce.
		claims func(p *fakeidp.IdP, nonce string) map[string]any
		// signKey signs the ID token (nil: the provider's key).
		signKey *rsa.PrivateKey
		// callback alters the query the provider sends back, or the cookie.
		callback func(q url.Values, c *http.Cookie)
		wantCode int
		// wantDetail is in the answer (for a refusal: why).
		wantDetail string
		wantUser   string
		wantRole   auth.Role
	}{
		{name: "admin", claims: user("dev", "kw-admins"), wantCode: 200, wantDetail: "access_token", wantUser: "oidc:ada@example.com", wantRole: auth.RoleAdmin},
		{name: "operator, highest of several groups", claims: user("sre", "dev"), wantCode: 200, wantDetail: "access_token", wantUser: "oidc:ada@example.com", wantRole: auth.RoleOperator},
		{name: "unverified e-mail: the subject names the user", claims: func(p *fakeidp.IdP, nonce string) map[string]any {
			cl := user("kw-operators")(p, nonce)
			cl["email_verified"] = false
			return cl
		}, wantCode: 200, wantDetail: "access_token", wantUser: "oidc:u-123", wantRole: auth.RoleOperator},
		{name: "unmapped group", claims: user("dev"), wantCode: http.StatusForbidden, wantDetail: "no group that maps"},
		{name: "no groups claim", claims: func(p *fakeidp.IdP, nonce string) map[string]any { return p.Claims("u-123", nonce) }, wantCode: http.StatusForbidden, wantDetail: "no group that maps"},
		{name: "wrong state", claims: user("kw-admins"), callback: func(q url.Values, _ *http.Cookie) { q.Set("state", "forged") }, wantCode: http.StatusUnauthorized, wantDetail: "not the one this browser started with"},
		{name: "tampered state cookie", claims: user("kw-admins"), callback: func(_ url.Values, c *http.Cookie) { c.Value = "x" + c.Value[1:] }, wantCode: http.StatusUnauthorized, wantDetail: "signature does not verify"},
		{name: "no state cookie", claims: user("kw-admins"), callback: func(_ url.Values, c *http.Cookie) { c.Name = "other" }, wantCode: http.StatusBadRequest, wantDetail: "no login in progress"},
		{name: "wrong nonce", claims: func(p *fakeidp.IdP, _ string) map[string]any { return user("kw-admins")(p, "another-nonce") }, wantCode: http.StatusUnauthorized, wantDetail: "nonce"},
		{name: "bad signature", claims: user("kw-admins"), signKey: otherKey, wantCode: http.StatusUnauthorized, wantDetail: "signature"},
		{name: "expired ID token", claims: func(p *fakeidp.IdP, nonce string) map[string]any {
			cl := user("kw-admins")(p, nonce)
			cl["iat"], cl["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			return cl
		}, wantCode: http.StatusUnauthorized, wantDetail: "expired"},
		{name: "wrong audience", claims: func(p *fakeidp.IdP, nonce string) map[string]any {
			cl := user("kw-admins")(p, nonce)
			cl["aud"] = "another-client"
			return cl
		}, wantCode: http.StatusUnauthorized, wantDetail: "audience"},
		{name: "wrong issuer", claims: func(p *fakeidp.IdP, nonce string) map[string]any {
			cl := user("kw-admins")(p, nonce)
			cl["iss"] = "https://evil.example"
			return cl
		}, wantCode: http.StatusUnauthorized, wantDetail: "different provider"},
		{name: "code replayed with another verifier", claims: user("kw-admins"), callback: func(q url.Values, _ *http.Cookie) { q.Set("code", "unknown-code") }, wantCode: http.StatusUnauthorized, wantDetail: "invalid_grant"},
		{name: "provider refused", claims: user("kw-admins"), callback: func(q url.Values, _ *http.Cookie) {
			q.Del("code")
			q.Set("error", "access_denied")
		}, wantCode: http.StatusUnauthorized, wantDetail: "refused the login: access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.get(e.srv.URL + "/api/v1/auth/oidc/login")
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("login: status %d, want 302: %s", resp.StatusCode, b)
			}
			var cookie *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "kubeward_oidc_state" {
					cookie = c
				}
			}
			if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/api/v1/auth/oidc/" || cookie.MaxAge != 600 {
				t.Fatalf("login set no HttpOnly, SameSite=Lax state cookie for /api/v1/auth/oidc/ lasting 10 minutes: %+v", resp.Cookies())
			}
			q, redirect := e.idp.Authorize(resp.Header.Get("Location"), func(nonce string) string {
				return e.idp.Sign(tc.claims(e.idp, nonce), tc.signKey)
			})
			if redirect != e.srv.URL+"/api/v1/auth/oidc/callback" {
				t.Fatalf("redirect_uri = %q", redirect)
			}
			if tc.callback != nil {
				tc.callback(q, cookie)
			}
			resp, b = e.get(redirect+"?"+q.Encode(), cookie)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("callback: status %d, want %d: %s", resp.StatusCode, tc.wantCode, b)
			}
			if !strings.Contains(string(b), tc.wantDetail) {
				t.Errorf("callback answer does not say %q: %s", tc.wantDetail, b)
			}
			cleared := false
			for _, c := range resp.Cookies() {
				cleared = cleared || (c.Name == "kubeward_oidc_state" && c.MaxAge < 0)
			}
			if !cleared {
				t.Errorf("the callback did not clear the state cookie: %v", resp.Header.Values("Set-Cookie"))
			}
			if tc.wantCode != http.StatusOK {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("refusal answered with Content-Type %q: %s", ct, b)
				}
				return
			}
			var pair auth.TokenPair
			if err := json.Unmarshal(b, &pair); err != nil {
				t.Fatalf("callback body: %v: %s", err, b)
			}
			p, err := e.svc.Authenticate(context.Background(), pair.AccessToken)
			if err != nil || p.Name != tc.wantUser || p.Role != tc.wantRole {
				t.Fatalf("access token principal = %+v, %v; want %s with role %s", p, err, tc.wantUser, tc.wantRole)
			}
			// The session refreshes without a stored user, keeping its role.
			pair2, err := e.svc.Refresh(context.Background(), pair.RefreshToken)
			if err != nil {
				t.Fatalf("refresh of an OIDC session: %v", err)
			}
			if p2, err := e.svc.Authenticate(context.Background(), pair2.AccessToken); err != nil || p2.Name != tc.wantUser || p2.Role != tc.wantRole {
				t.Errorf("refreshed principal = %+v, %v", p2, err)
			}
			// A state is single-use: replaying the callback fails.
			if resp, b := e.get(redirect+"?"+q.Encode(), cookie); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("replayed callback: status %d, want 401 (the code is spent): %s", resp.StatusCode, b)
			}
		})
	}
	// Every callback, accepted or refused, is in the audit log.
	es, _, err := e.svc.AuditLog(context.Background(), auth.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	byStatus := map[int]int{}
	admins := 0
	for _, en := range es {
		if en.Action != "GET /api/v1/auth/oidc/callback" {
			continue
		}
		byStatus[en.Status]++
		if en.Actor == "oidc:ada@example.com" && en.Status == 200 {
			admins++
		}
	}
	if byStatus[200] != 3 || byStatus[401] < 7 || byStatus[403] != 2 || byStatus[400] != 1 || admins != 2 {
		t.Errorf("audited OIDC callbacks by status = %v (%d successful as oidc:ada@example.com); want 3 accepted, 2 for ada, 2 forbidden, 1 bad request, the rest refused", byStatus, admins)
	}
}

func TestOIDCNotConfigured(t *testing.T) {
	e := newAuthEnv(t)
	for _, path := range []string{"/api/v1/auth/oidc/login", "/api/v1/auth/oidc/callback?code=x&state=y"} {
		if code, _, b := e.do("GET", path, "", nil); code != http.StatusNotFound {
			t.Errorf("GET %s without OIDC: status %d, want 404: %s", path, code, b)
		}
	}
}

func TestPasswordChangeAndUserDeletionOverHTTP(t *testing.T) {
	e := newAuthEnv(t)
	admin := e.login(auth.RoleAdmin).AccessToken
	viewer := e.login(auth.RoleViewer).AccessToken
	operator := e.login(auth.RoleOperator).AccessToken
	const newPassword = "a brand new passphrase"
	for _, tc := range []struct {
		name, path, token string
		body              any
		want              int
	}{
		{"no body", "/api/v1/users/vera/password", viewer, "{}", http.StatusBadRequest},
		{"unknown field", "/api/v1/users/vera/password", viewer, `{"password":"x"}`, http.StatusBadRequest},
		{"wrong current password", "/api/v1/users/vera/password", viewer, ChangePasswordRequest{CurrentPassword: "wrong one!", NewPassword: newPassword}, http.StatusUnauthorized},
		{"too short", "/api/v1/users/vera/password", viewer, ChangePasswordRequest{CurrentPassword: testPassword, NewPassword: "short"}, http.StatusBadRequest},
		{"another user's, as an operator", "/api/v1/users/vera/password", operator, ChangePasswordRequest{NewPassword: newPassword}, http.StatusForbidden},
		{"own, with the current password", "/api/v1/users/vera/password", viewer, ChangePasswordRequest{CurrentPassword: testPassword, NewPassword: newPassword}, http.StatusNoContent},
		{"the old session is over", "/api/v1/users/vera/password", viewer, ChangePasswordRequest{CurrentPassword: newPassword, NewPassword: testPassword}, http.StatusUnauthorized},
		{"someone else's, as an admin", "/api/v1/users/oscar/password", admin, ChangePasswordRequest{NewPassword: newPassword}, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, b := e.do("PUT", tc.path, tc.token, tc.body); code != tc.want {
				t.Errorf("PUT %s: %d, want %d: %s", tc.path, code, tc.want, b)
			}
		})
	}
	if code, _, b := e.do("GET", "/api/v1/cves/stats", operator, nil); code != http.StatusUnauthorized {
		t.Errorf("oscar's session after an admin set his password: %d, want 401: %s", code, b)
	}
	for _, tc := range []struct {
		name, user, token string
		want              int
	}{
		{"as a viewer", "oscar", viewer, http.StatusUnauthorized}, // vera's session ended above
		{"unknown", "nobody", admin, http.StatusNotFound},
		{"the last admin", "alice", admin, http.StatusBadRequest},
		{"a user", "oscar", admin, http.StatusNoContent},
		{"twice", "oscar", admin, http.StatusNotFound},
	} {
		t.Run("delete "+tc.name, func(t *testing.T) {
			if code, _, b := e.do("DELETE", "/api/v1/users/"+tc.user, tc.token, nil); code != tc.want {
				t.Errorf("DELETE %s: %d, want %d: %s", tc.user, code, tc.want, b)
			}
		})
	}
	// Both changes and the deletion are in the audit log.
	es, _, err := e.svc.AuditLog(context.Background(), auth.AuditQuery{Actor: "alice", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, en := range es {
		seen[en.Action]++
	}
	if seen["PUT /api/v1/users/{name}/password"] != 1 || seen["DELETE /api/v1/users/{name}"] != 4 {
		t.Errorf("alice's audited actions = %v", seen)
	}
}
