package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/kubeward/kubeward/internal/auth"
)

func init() {
	declareRoutes(func(s *Server) []Route {
		return []Route{
			{Method: "GET", Path: "/api/v1/openapi.json", Role: auth.RoleViewer, Handler: s.openAPI,
				Summary: "This API's OpenAPI 3.1 document", Response: "OpenAPIDocument"},
			{Method: "GET", Path: "/api/v1/docs", Role: auth.RoleViewer, Handler: s.docs,
				Summary: "A page listing the API's routes", Response: "HTMLPage"},
		}
	})
}

// APIVersion is the info.version of the OpenAPI document.
const APIVersion = "1.0.0"

var pathParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// obj, arr and ref build JSON Schema fragments.
func obj(required []string, props map[string]any) map[string]any {
	m := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

func listOf(item string) map[string]any {
	return obj([]string{"items", "total", "limit", "offset"}, map[string]any{
		"items":  map[string]any{"type": "array", "items": ref(item)},
		"total":  map[string]any{"type": "integer"},
		"limit":  map[string]any{"type": "integer"},
		"offset": map[string]any{"type": "integer"},
	})
}

var roleSchema = map[string]any{"type": "string", "enum": []string{"viewer", "operator", "admin"}}

var dateTime = map[string]any{"type": "string", "format": "date-time"}

// schemas are the hand-written component schemas the routes refer to.
var schemas = map[string]any{
	"Problem": obj([]string{"type", "title", "status"}, map[string]any{
		"type": str("about:blank"), "title": str("HTTP status text"), "status": map[string]any{"type": "integer"},
		"detail": str("what went wrong and what to do"), "instance": str("the request path"),
	}),
	"LoginRequest": obj([]string{"username", "password"}, map[string]any{
		"username": map[string]any{"type": "string", "maxLength": 64},
		"password": map[string]any{"type": "string", "format": "password", "maxLength": auth.MaxPasswordLen},
	}),
	"RefreshRequest": obj([]string{"refresh_token"}, map[string]any{"refresh_token": str("a refresh token from login or refresh")}),
	"LogoutRequest":  obj(nil, map[string]any{"refresh_token": str("the session's refresh token, to revoke it too")}),
	"TokenPair": obj([]string{"access_token", "refresh_token", "token_type", "expires_in"}, map[string]any{
		"access_token":       str("JWT (HS256) to send as Authorization: Bearer"),
		"refresh_token":      str("JWT to exchange at /api/v1/auth/refresh"),
		"token_type":         map[string]any{"const": "Bearer"},
		"expires_in":         map[string]any{"type": "integer", "description": "access token lifetime in seconds"},
		"access_expires_at":  dateTime,
		"refresh_expires_at": dateTime,
	}),
	"User": obj([]string{"username", "role", "created_at"}, map[string]any{
		"username": str("user name"), "role": roleSchema, "created_at": dateTime,
	}),
	"UserList": listOf("User"),
	"CreateUserRequest": obj([]string{"username", "password", "role"}, map[string]any{
		"username": map[string]any{"type": "string", "pattern": `^[a-z0-9][a-z0-9._@-]{0,63}$`},
		"password": map[string]any{"type": "string", "format": "password", "minLength": auth.MinPasswordLen, "maxLength": auth.MaxPasswordLen},
		"role":     roleSchema,
	}),
	"APIToken": obj([]string{"id", "name", "owner", "role", "created_at"}, map[string]any{
		"id": str("token ID, for DELETE /api/v1/tokens/{id}"), "name": str("what the token is for"),
		"owner": str("user who created it"), "role": roleSchema, "created_at": dateTime, "expires_at": dateTime,
	}),
	"APITokenList": listOf("APIToken"),
	"CreateTokenRequest": obj([]string{"name", "role"}, map[string]any{
		"name": map[string]any{"type": "string", "minLength": 1, "maxLength": 100}, "role": roleSchema,
		"expires_in": str("lifetime as a Go duration, e.g. 720h; omitted: never expires"),
	}),
	"CreatedToken": map[string]any{"allOf": []any{
		map[string]any{"$ref": "#/components/schemas/APIToken"},
		map[string]any{"type": "object", "required": []string{"token"}, "properties": map[string]any{
			"token": str("the secret (kwt_...), shown only in this answer"),
		}},
	}},
	"AuditEntry": obj([]string{"id", "time", "actor", "action", "target", "status", "source"}, map[string]any{
		"id": map[string]any{"type": "integer"}, "time": dateTime,
		"actor":  str("user name, token:<id>, or the name a login tried"),
		"action": str("method and route pattern"), "target": str("request path"),
		"status": map[string]any{"type": "integer"}, "source": str("client address"),
	}),
	"AuditList": listOf("AuditEntry"),
	"CVEList": map[string]any{"type": "object", "required": []string{"items", "total", "limit", "offset"},
		"properties": map[string]any{
			"items": map[string]any{"type": "array", "items": map[string]any{"type": "object",
				"description": "CVE summary: id, state, title, severity, score, kev, dates"}},
			"total": map[string]any{"type": "integer"}, "limit": map[string]any{"type": "integer"}, "offset": map[string]any{"type": "integer"},
		}},
	"CVEStats":        map[string]any{"type": "object", "description": "record counts by state, severity and KEV"},
	"CVEDetail":       map[string]any{"type": "object", "description": "a CVE record with affected products, references, metrics and enrichment"},
	"DeadLetterList":  map[string]any{"type": "object", "required": []string{"items", "limit", "offset"}, "properties": map[string]any{"items": map[string]any{"type": "array"}, "limit": map[string]any{"type": "integer"}, "offset": map[string]any{"type": "integer"}}},
	"OpenAPIDocument": map[string]any{"type": "object", "description": "an OpenAPI 3.1 document"},
	"HTMLPage":        map[string]any{"type": "string", "contentMediaType": "text/html"},
}

// problemResponse is a response of problem+json.
func problemResponse(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{
		"application/problem+json": map[string]any{"schema": ref("Problem")},
	}}
}

// operationID turns "GET /api/v1/cves/{id}" into "getCvesId".
func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, part := range strings.FieldsFunc(strings.TrimPrefix(rt.Path, "/api/v1/"), func(r rune) bool {
		return r == '/' || r == '{' || r == '}' || r == '-' || r == '.' || r == '_'
	}) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// OpenAPI returns the API's OpenAPI 3.1 document, generated from the route
// table and the hand-written schemas.
func OpenAPI(routes []Route) map[string]any {
	paths := map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"operationId":     operationID(rt),
			"summary":         rt.Summary,
			"x-kubeward-role": rt.Role.String(),
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]any{"type": q.Type}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Request != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": ref(rt.Request)},
			}}
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		if rt.Response != "" {
			ct := "application/json"
			if rt.Response == "HTMLPage" {
				ct = "text/html"
			}
			ok["content"] = map[string]any{ct: map[string]any{"schema": ref(rt.Response)}}
		}
		responses := map[string]any{strconv.Itoa(status): ok, "default": problemResponse("an error")}
		if rt.Role == auth.RoleAnonymous {
			op["security"] = []any{}
		} else {
			responses["401"] = problemResponse("no valid token")
			responses["403"] = problemResponse("the caller's role is below " + rt.Role.String())
		}
		op["responses"] = responses
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "kubeward API",
			"version":     APIVersion,
			"description": "kubeward's control-plane API. Authenticate with POST /api/v1/auth/login, then send the access token (or an API token) as Authorization: Bearer.",
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer",
					"description": "a JWT access token from /api/v1/auth/login, or an API token (kwt_...)"},
			},
		},
	}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := json.MarshalIndent(OpenAPI(s.Routes()), "", "  ")
	if err != nil {
		s.internalError(w, r, fmt.Errorf("encode the OpenAPI document: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kubeward API</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}code{font-size:1.05em}</style></head>
<body><h1>kubeward API {{.Version}}</h1>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).
Log in with <code>POST /api/v1/auth/login</code>, then send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>Least role</th><th>What it does</th></tr>
{{range .Routes}}<tr><td><code>{{.Method}}</code></td><td><code>{{.Path}}</code></td><td>{{.Role}}</td><td>{{.Summary}}</td></tr>
{{end}}</table></body></html>
`))

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := docsPage.Execute(&buf, map[string]any{"Version": APIVersion, "Routes": s.Routes()}); err != nil {
		s.internalError(w, r, fmt.Errorf("render the docs page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}
