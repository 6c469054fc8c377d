package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kubeward/kubeward/internal/auth"
)

// anonymous is the caller of a route that needs no credentials.
var anonymous = auth.Principal{Role: auth.RoleAnonymous}

// localPrincipal is who every request is when Server.InsecureNoAuth is set.
var localPrincipal = auth.Principal{Name: "local", Role: auth.RoleAdmin, Kind: auth.KindLocal}

// requestInfo travels in the request context from guard to the handler.
type requestInfo struct {
	principal auth.Principal
	// actor, when a handler sets it, replaces the principal in the audit
	// entry (a login records the name it tried).
	actor string
}

type requestInfoKey struct{}

// info returns the request's info; guard always sets it.
func info(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// PrincipalFrom returns the authenticated caller of a request served by the
// API, and false for an anonymous one.
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo)
	if !ok || ri.principal.Role < auth.RoleViewer {
		return auth.Principal{}, false
	}
	return ri.principal, true
}

// bearer returns the credential of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// authenticate resolves the request's principal. It answers the request
// itself (and returns false) when the credential is refused.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, required auth.Role) (auth.Principal, bool) {
	if s.InsecureNoAuth {
		return localPrincipal, true
	}
	if s.Auth == nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "API authentication is not configured on this server (start it with an auth service, or --api-auth=false on a laptop)")
		return auth.Principal{}, false
	}
	cred, ok := bearer(r)
	if !ok {
		if required == auth.RoleAnonymous {
			return anonymous, true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="kubeward"`)
		writeProblem(w, r, http.StatusUnauthorized, "send a token: Authorization: Bearer <access token or API token>")
		return auth.Principal{}, false
	}
	p, err := s.Auth.Authenticate(r.Context(), cred)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) && required == auth.RoleAnonymous {
			return anonymous, true // a stale token must not stop a login
		}
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kubeward", error="invalid_token"`)
			writeProblem(w, r, http.StatusUnauthorized, "the token is invalid, expired or revoked; log in again")
			return auth.Principal{}, false
		}
		s.internalError(w, r, err)
		return auth.Principal{}, false
	}
	return p, true
}

// guard wraps a route's handler: authentication, the role check, and an
// audit entry for every mutating request.
func (s *Server) guard(rt Route) http.Handler {
	action := rt.pattern()
	if rt.Role < auth.RoleAnonymous || rt.Role > auth.RoleAdmin {
		// A route that forgot its role is served to admins only.
		// TestEveryRouteDeclaresARole catches it before it ships.
		rt.Role = auth.RoleAdmin
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// Calls refused for want of a valid credential are not
			// audited (they did nothing, and anyone could fill the log
			// with them); kubeward_auth_token_rejections_total counts
			// them. Login attempts, refused or not, are audited.
			if isMutating(r.Method) && (rec.status() != http.StatusUnauthorized || ri.principal.Role >= auth.RoleAnonymous) {
				s.audit(r, ri, action, rec.status())
			}
		}()
		p, ok := s.authenticate(rec, r, rt.Role)
		if !ok {
			return
		}
		ri.principal = p
		if !p.Role.Allows(rt.Role) {
			writeProblem(rec, r, http.StatusForbidden, "this needs the "+rt.Role.String()+" role; you are "+p.Role.String())
			return
		}
		rt.Handler(rec, r)
	})
}

func isMutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

func (s *Server) audit(r *http.Request, ri *requestInfo, action string, status int) {
	if s.Auth == nil {
		return
	}
	actor := ri.actor
	if actor == "" {
		actor = ri.principal.Actor()
	}
	if actor == "" {
		actor = "anonymous"
	}
	// The request's context may be cancelled once the client has gone;
	// the record of what it did must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	_ = s.Auth.Record(ctx, auth.AuditEntry{
		Actor:  actor,
		Action: action,
		Target: r.URL.Path,
		Status: status,
		Source: s.clientAddr(r),
	}) // Record logs and counts its failures
}

// clientAddr is the caller's address: the last X-Forwarded-For entry when
// TrustProxy is set, else the connection's peer.
func (s *Server) clientAddr(r *http.Request) string {
	if s.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a := strings.TrimSpace(last); a != "" {
				return a
			}
		}
	}
	return r.RemoteAddr
}

// RequireRole wraps h (a handler outside the API, such as /metrics) so
// that it answers only callers holding at least role.
func (s *Server) RequireRole(role auth.Role, h http.Handler) http.Handler {
	return s.guard(Route{Method: "*", Path: "*", Role: role, Handler: h.ServeHTTP})
}

// withCommonHeaders sets the security headers every API answer carries.
func (s *Server) withCommonHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		h.ServeHTTP(w, r)
	})
}

// cors answers CORS for the configured origins only; with none configured
// it adds nothing, so browsers keep the same-origin policy.
func (s *Server) cors(h http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return h
	}
	origins := slices.Clone(s.CORSOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" || !slices.Contains(origins, origin) {
			h.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
