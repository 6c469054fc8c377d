package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store"
)

func init() {
	schemas["ChangePasswordRequest"] = obj([]string{"new_password"}, map[string]any{
		"current_password": map[string]any{"type": "string", "format": "password", "maxLength": auth.MaxPasswordLen,
			"description": "required when changing your own password"},
		"new_password": map[string]any{"type": "string", "format": "password", "minLength": auth.MinPasswordLen, "maxLength": auth.MaxPasswordLen},
	})
	declareRoutes(func(s *Server) []Route {
		return []Route{
			{Method: "POST", Path: "/api/v1/auth/login", Role: auth.RoleAnonymous, Handler: s.login,
				Summary: "Log in with a user name and password; returns an access and a refresh token",
				Request: "LoginRequest", Response: "TokenPair"},
			{Method: "POST", Path: "/api/v1/auth/refresh", Role: auth.RoleAnonymous, Handler: s.refresh,
				Summary: "Exchange a refresh token for a new token pair (the old refresh token is revoked)",
				Request: "RefreshRequest", Response: "TokenPair"},
			{Method: "GET", Path: "/api/v1/auth/oidc/login", Role: auth.RoleAnonymous, Handler: s.oidcLogin,
				Summary: "Start an OpenID Connect login: redirects to the identity provider (state, nonce and PKCE; the state is kept in a signed cookie valid for 10 minutes)",
				Status:  http.StatusFound},
			{Method: "GET", Path: "/api/v1/auth/oidc/callback", Role: auth.RoleAnonymous, Handler: s.oidcCallback,
				Summary:  "Finish an OpenID Connect login (the identity provider redirects here); returns kubeward's access and refresh tokens",
				Response: "TokenPair",
				Query: []Param{
					{Name: "code", Type: "string", Description: "the authorization code"},
					{Name: "state", Type: "string", Description: "the state sent by /api/v1/auth/oidc/login"},
					{Name: "error", Type: "string", Description: "the provider's error code, when it refused the login"},
					{Name: "error_description", Type: "string", Description: "the provider's explanation of error"},
				}},
			{Method: "POST", Path: "/api/v1/auth/logout", Role: auth.RoleViewer, Handler: s.logout,
				Summary: "Revoke the caller's access token and, when given, its refresh token",
				Request: "LogoutRequest", Status: http.StatusNoContent},
			{Method: "GET", Path: "/api/v1/tokens", Role: auth.RoleViewer, Handler: s.listTokens,
				Summary: "List API tokens (admins: all; others: their own)", Response: "APITokenList"},
			{Method: "POST", Path: "/api/v1/tokens", Role: auth.RoleViewer, Handler: s.createToken,
				Summary: "Create an API token with a role up to the caller's; the secret is shown once",
				Request: "CreateTokenRequest", Response: "CreatedToken", Status: http.StatusCreated},
			{Method: "DELETE", Path: "/api/v1/tokens/{id}", Role: auth.RoleViewer, Handler: s.deleteToken,
				Summary: "Delete an API token (its owner or an admin)", Status: http.StatusNoContent},
			{Method: "GET", Path: "/api/v1/users", Role: auth.RoleAdmin, Handler: s.listUsers,
				Summary: "List local users", Response: "UserList"},
			{Method: "POST", Path: "/api/v1/users", Role: auth.RoleAdmin, Handler: s.createUser,
				Summary: "Create a local user", Request: "CreateUserRequest", Response: "User", Status: http.StatusCreated},
			{Method: "DELETE", Path: "/api/v1/users/{name}", Role: auth.RoleAdmin, Handler: s.deleteUser,
				Summary: "Delete a local user with its API tokens and end its sessions (not the last admin)", Status: http.StatusNoContent},
			{Method: "PUT", Path: "/api/v1/users/{name}/password", Role: auth.RoleViewer, Handler: s.changePassword,
				Summary: "Change a password: your own with the current one, or anyone's as an admin; the user's sessions end (log in again)",
				Request: "ChangePasswordRequest", Status: http.StatusNoContent},
			{Method: "GET", Path: "/api/v1/audit-log", Role: auth.RoleAdmin, Handler: s.listAudit,
				Summary: "List audit entries of mutating calls and logins, newest first", Response: "AuditList",
				Query: []Param{
					{Name: "actor", Type: "string", Description: "only this user name or token:<id>"},
					{Name: "since", Type: "string", Description: "only entries at or after this time (RFC 3339 or YYYY-MM-DD)"},
					limitParam, offsetParam,
				}},
		}
	})
}

var (
	limitParam  = Param{Name: "limit", Type: "integer", Description: "page size, 1-1000 (default 50)"}
	offsetParam = Param{Name: "offset", Type: "integer", Description: "entries to skip (default 0)"}
)

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// LogoutRequest is the (optional) body of POST /api/v1/auth/logout.
type LogoutRequest struct {
	RefreshToken string `json:"refresh_token,omitempty"`
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	Role     auth.Role `json:"role"`
}

// ChangePasswordRequest is the body of PUT /api/v1/users/{name}/password.
type ChangePasswordRequest struct {
	// CurrentPassword is required when users change their own password.
	CurrentPassword string `json:"current_password,omitempty"`
	NewPassword     string `json:"new_password"`
}

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	Name string    `json:"name"`
	Role auth.Role `json:"role"`
	// ExpiresIn is the lifetime as a Go duration ("720h"); empty: never.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// UserView is a user as the API shows it (no password hash).
type UserView struct {
	Username  string    `json:"username"`
	Role      auth.Role `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenView is an API token as the API shows it (no hash, no secret).
type TokenView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Owner     string     `json:"owner"`
	Role      auth.Role  `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CreatedToken is the answer to POST /api/v1/tokens: the only time the
// secret is shown.
type CreatedToken struct {
	TokenView
	Token string `json:"token"`
}

// AuditView is an audit entry as the API shows it.
type AuditView struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Status int       `json:"status"`
	Source string    `json:"source"`
}

// List is the body of every list endpoint.
type List[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// decodeJSON reads exactly one JSON object into v, refusing unknown fields
// and trailing data.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("request body larger than %d bytes: %w", tooBig.Limit, err)
		}
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty; send a JSON object")
		}
		return fmt.Errorf("request body is not the expected JSON object: %w", err)
	}
	if dec.More() {
		return errors.New("request body has data after the JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("request body has data after the JSON object")
	}
	return nil
}

// DecodeLogin parses a login request body; both fields are required.
func DecodeLogin(body io.Reader) (LoginRequest, error) {
	var req LoginRequest
	if err := decodeJSON(body, &req); err != nil {
		return LoginRequest{}, err
	}
	if req.Username == "" || req.Password == "" {
		return LoginRequest{}, errors.New("username and password are required")
	}
	if len(req.Username) > 64 || len(req.Password) > auth.MaxPasswordLen {
		return LoginRequest{}, fmt.Errorf("username (64) or password (%d bytes) too long", auth.MaxPasswordLen)
	}
	return req, nil
}

// authError answers an error from the auth service with its status.
func (s *Server) authError(w http.ResponseWriter, r *http.Request, err error) {
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())+1))
		writeProblem(w, r, http.StatusTooManyRequests, "too many failed logins; try again later")
	case errors.Is(err, auth.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="kubeward"`)
		writeProblem(w, r, http.StatusUnauthorized, err.Error())
	case errors.Is(err, auth.ErrForbidden):
		writeProblem(w, r, http.StatusForbidden, err.Error())
	case errors.Is(err, auth.ErrInvalid):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, auth.ErrNoExternalLogin):
		writeProblem(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, auth.ErrConflict):
		writeProblem(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, r, http.StatusNotFound, err.Error())
	default:
		s.internalError(w, r, err)
	}
}

// needAuthService answers 404 for the auth routes when authentication is
// disabled, and reports whether the service is there.
func (s *Server) needAuthService(w http.ResponseWriter, r *http.Request) bool {
	if s.Auth == nil {
		writeProblem(w, r, http.StatusNotFound, "authentication is disabled on this server")
		return false
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	req, err := DecodeLogin(r.Body)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	info(r).actor = req.Username
	pair, err := s.Auth.Login(r.Context(), req.Username, req.Password, s.clientAddr(r))
	if err != nil {
		s.authError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pair)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	var req RefreshRequest
	if err := decodeJSON(r.Body, &req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if req.RefreshToken == "" {
		writeProblem(w, r, http.StatusBadRequest, "refresh_token is required")
		return
	}
	pair, err := s.Auth.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		s.authError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pair)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	var req LogoutRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r.Body, &req); err != nil {
			writeProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	if err := s.Auth.Logout(r.Context(), info(r).principal, req.RefreshToken); err != nil {
		s.authError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func tokenView(t auth.APIToken) TokenView {
	v := TokenView{ID: t.ID, Name: t.Name, Owner: t.Owner, Role: t.Role, CreatedAt: t.CreatedAt}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt
		v.ExpiresAt = &e
	}
	return v
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	ts, err := s.Auth.ListAPITokens(r.Context(), info(r).principal)
	if err != nil {
		s.authError(w, r, err)
		return
	}
	items := make([]TokenView, 0, len(ts))
	for _, t := range ts {
		items = append(items, tokenView(t))
	}
	writeJSON(w, http.StatusOK, List[TokenView]{Items: items, Total: len(items), Limit: len(items)})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	var req CreateTokenRequest
	if err := decodeJSON(r.Body, &req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		var err error
		if ttl, err = time.ParseDuration(req.ExpiresIn); err != nil || ttl <= 0 {
			writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("expires_in %q: want a positive Go duration such as 720h", req.ExpiresIn))
			return
		}
	}
	if req.Role < auth.RoleViewer {
		writeProblem(w, r, http.StatusBadRequest, "role is required: viewer, operator or admin")
		return
	}
	secret, t, err := s.Auth.CreateAPIToken(r.Context(), info(r).principal, req.Name, req.Role, ttl)
	if err != nil {
		s.authError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, CreatedToken{TokenView: tokenView(t), Token: secret})
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	if err := s.Auth.DeleteAPIToken(r.Context(), info(r).principal, r.PathValue("id")); err != nil {
		s.authError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	us, err := s.Auth.ListUsers(r.Context())
	if err != nil {
		s.authError(w, r, err)
		return
	}
	items := make([]UserView, 0, len(us))
	for _, u := range us {
		items = append(items, UserView{Username: u.Name, Role: u.Role, CreatedAt: u.CreatedAt})
	}
	writeJSON(w, http.StatusOK, List[UserView]{Items: items, Total: len(items), Limit: len(items)})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	var req CreateUserRequest
	if err := decodeJSON(r.Body, &req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if req.Role < auth.RoleViewer {
		writeProblem(w, r, http.StatusBadRequest, "role is required: viewer, operator or admin")
		return
	}
	u, err := s.Auth.CreateUser(r.Context(), req.Username, req.Password, req.Role)
	if err != nil {
		s.authError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, UserView{Username: u.Name, Role: u.Role, CreatedAt: u.CreatedAt})
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	v := r.URL.Query()
	q := auth.AuditQuery{Actor: v.Get("actor")}
	var err error
	if q.Since, err = parseDate(v.Get("since")); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	if q.Limit, err = parseInt(v.Get("limit"), 50, 1, 1000); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	if q.Offset, err = parseInt(v.Get("offset"), 0, 0, 1<<30); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	es, total, err := s.Auth.AuditLog(r.Context(), q)
	if err != nil {
		s.authError(w, r, err)
		return
	}
	items := make([]AuditView, 0, len(es))
	for _, e := range es {
		items = append(items, AuditView(e))
	}
	writeJSON(w, http.StatusOK, List[AuditView]{Items: items, Total: total, Limit: q.Limit, Offset: q.Offset})
}

// oidcStateCookie holds the sealed state of an OpenID Connect login
// between /auth/oidc/login and /auth/oidc/callback.
const (
	oidcStateCookie = "kubeward_oidc_state"
	oidcCookiePath  = "/api/v1/auth/oidc/"
)

// secureRequest reports whether the client reached us over TLS, directly
// or (with TrustProxy) through the proxy.
func (s *Server) secureRequest(r *http.Request) bool {
	return r.TLS != nil || (s.TrustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	target, sealed, err := s.Auth.BeginExternalLogin()
	if err != nil {
		s.authError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: oidcStateCookie, Value: sealed, Path: oidcCookiePath,
		MaxAge: int(auth.ExternalLoginTTL / time.Second), HttpOnly: true, Secure: s.secureRequest(r),
		// Lax: the provider's redirect back is a top-level GET navigation.
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, target, http.StatusFound)
}

// oidcCallback finishes the login. GET requests are not audited by guard,
// so it records its outcome itself, successful or not.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	if !s.Auth.ExternalLogin() {
		s.authError(w, r, auth.ErrNoExternalLogin)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	ri := info(r)
	defer func() { s.audit(r, ri, "GET /api/v1/auth/oidc/callback", rec.status()) }()
	// The state is single-use: clear it whatever happens.
	http.SetCookie(rec, &http.Cookie{Name: oidcStateCookie, Value: "", Path: oidcCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: s.secureRequest(r), SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	if q.Get("error") != "" {
		writeProblem(rec, r, http.StatusUnauthorized, "the identity provider refused the login: "+providerError(q))
		return
	}
	c, err := r.Cookie(oidcStateCookie)
	if err != nil {
		writeProblem(rec, r, http.StatusBadRequest, "no login in progress in this browser (the state cookie is missing or expired); start at /api/v1/auth/oidc/login")
		return
	}
	pair, name, err := s.Auth.FinishExternalLogin(r.Context(), c.Value, q.Get("state"), q.Get("code"))
	ri.actor = name
	if err != nil {
		s.authError(rec, r, err)
		return
	}
	writeJSON(rec, http.StatusOK, pair)
}

// providerError is the error an identity provider sent back ("error:
// error_description"), cut to 200 bytes of valid UTF-8: it is untrusted
// text that ends up in the answer.
func providerError(q url.Values) string {
	detail := q.Get("error")
	if d := q.Get("error_description"); d != "" {
		detail += ": " + d
	}
	if len(detail) > 200 {
		detail = detail[:200]
	}
	return strings.ToValidUTF8(detail, "")
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	if err := s.Auth.DeleteUser(r.Context(), info(r).principal, r.PathValue("name")); err != nil {
		s.authError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	if !s.needAuthService(w, r) {
		return
	}
	var req ChangePasswordRequest
	if err := decodeJSON(r.Body, &req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if req.NewPassword == "" {
		writeProblem(w, r, http.StatusBadRequest, "new_password is required")
		return
	}
	if err := s.Auth.ChangePassword(r.Context(), info(r).principal, r.PathValue("name"), req.CurrentPassword, req.NewPassword, s.clientAddr(r)); err != nil {
		s.authError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
