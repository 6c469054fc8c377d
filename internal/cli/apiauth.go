package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/auth/oidclogin"
	"github.com/kubeward/kubeward/internal/server"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/workers"
)

// apiFlags configure authentication and the HTTP surface of the API.
type apiFlags struct {
	auth          bool
	adminUser     string
	adminPassword string
	corsOrigins   []string
	trustProxy    bool
	metricsAuth   bool
	redisURL      string
	oidc          oidcFlags
}

// oidcFlags configure the optional OpenID Connect login.
type oidcFlags struct {
	issuer, clientID, secretFile, redirectURL, groupsClaim string
	scopes, adminGroups, operatorGroups, viewerGroups      []string
}

func (f *apiFlags) bind(fs *pflag.FlagSet) {
	fs.BoolVar(&f.auth, "api-auth", true, "require authentication on /api/v1 (JWT or API token); false serves every request as an administrator and is allowed only on a loopback --listen address")
	fs.StringVar(&f.adminUser, "admin-user", "admin", "name of the first administrator, created at first start")
	fs.StringVar(&f.adminPassword, "admin-password-file", "", "file holding the first administrator's password (default: one is generated and printed once)")
	fs.StringSliceVar(&f.corsOrigins, "api-cors-origin", nil, "origins allowed to call the API from a browser (CORS is off by default)")
	fs.BoolVar(&f.trustProxy, "api-trust-proxy", false, "take the client address from X-Forwarded-For (only behind a trusted proxy)")
	fs.BoolVar(&f.metricsAuth, "metrics-auth", false, "require a viewer token on /metrics")
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis shared by the API replicas for login throttling and token revocations, e.g. redis://:password@redis:6379/0 (rediss:// for TLS); default: in memory, per replica")
	fs.StringVar(&f.oidc.issuer, "oidc-issuer", "", "OpenID Connect issuer URL; enables login through it at GET /api/v1/auth/oidc/login")
	fs.StringVar(&f.oidc.clientID, "oidc-client-id", "", "OpenID Connect client ID registered for kubeward")
	fs.StringVar(&f.oidc.secretFile, "oidc-client-secret-file", "", "file holding the OpenID Connect client secret")
	fs.StringVar(&f.oidc.redirectURL, "oidc-redirect-url", "", "kubeward's callback URL as registered at the provider, https://HOST/api/v1/auth/oidc/callback")
	fs.StringVar(&f.oidc.groupsClaim, "oidc-groups-claim", "groups", "ID token claim holding the user's groups")
	fs.StringSliceVar(&f.oidc.scopes, "oidc-scopes", []string{"profile", "email"}, "scopes requested besides openid (add groups where the provider needs it)")
	fs.StringSliceVar(&f.oidc.adminGroups, "oidc-admin-groups", nil, "provider groups whose members are kubeward admins")
	fs.StringSliceVar(&f.oidc.operatorGroups, "oidc-operator-groups", nil, "provider groups whose members are operators")
	fs.StringSliceVar(&f.oidc.viewerGroups, "oidc-viewer-groups", nil, "provider groups whose members are viewers; users in no mapped group are refused")
}

// provider connects to the OpenID Connect provider, or returns nil when
// --oidc-issuer is not set.
func (f *oidcFlags) provider(ctx context.Context) (*oidclogin.Provider, error) {
	if f.issuer == "" {
		if f.clientID != "" || f.redirectURL != "" {
			return nil, fmt.Errorf("--oidc-client-id and --oidc-redirect-url need --oidc-issuer")
		}
		return nil, nil
	}
	var secret string
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return nil, fmt.Errorf("read --oidc-client-secret-file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return oidclogin.New(dctx, oidclogin.Config{
		Issuer: f.issuer, ClientID: f.clientID, ClientSecret: secret, RedirectURL: f.redirectURL,
		Scopes: f.scopes, GroupsClaim: f.groupsClaim,
		AdminGroups: f.adminGroups, OperatorGroups: f.operatorGroups, ViewerGroups: f.viewerGroups,
	})
}

// redisClient connects to --redis-url, or returns nil when it is not set.
// The client is closed when ctx ends.
func (f *apiFlags) redisClient(ctx context.Context, set *workers.Set) (*redis.Client, error) {
	if f.redisURL == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(f.redisURL)
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	rdb := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("connect to Redis at %s (--redis-url): %w", opts.Addr, err)
	}
	set.Go(ctx, "auth-redis-close", func(ctx context.Context) error {
		<-ctx.Done()
		return rdb.Close()
	})
	return rdb, nil
}

// server builds the API server, bootstrapping the first administrator on
// an empty store. extra are routes backed by services serve built.
func (f *apiFlags) server(ctx context.Context, app *App, st store.Store, listen string, set *workers.Set, extra []api.Route) (*api.Server, error) {
	a := &api.Server{Store: st, Logger: app.Logger, CORSOrigins: f.corsOrigins, TrustProxy: f.trustProxy, ExtraRoutes: extra}
	if !f.auth {
		if !loopback(listen) {
			return nil, fmt.Errorf("--api-auth=false is allowed only on a loopback --listen address, not %s", listen)
		}
		app.Logger.Warn("API authentication is off: every request is served as an administrator (--api-auth=false)")
		a.InsecureNoAuth = true
		return a, nil
	}
	as, ok := st.(auth.Store)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot hold users", st.Backend())
	}
	cfg := auth.Config{Logger: app.Logger}
	rdb, err := f.redisClient(ctx, set)
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		cfg.UserThrottle = auth.NewRedisThrottle(rdb, auth.DefaultRedisPrefix+"throttle:user:", auth.DefaultUserThrottle)
		cfg.AddrThrottle = auth.NewRedisThrottle(rdb, auth.DefaultRedisPrefix+"throttle:addr:", auth.DefaultAddrThrottle)
		cfg.SharedRevocations = auth.NewRedisRevocations(rdb, auth.DefaultRedisPrefix, app.Logger)
	}
	idp, err := f.oidc.provider(ctx)
	if err != nil {
		return nil, err
	}
	if idp != nil {
		cfg.IdentityProvider = idp
	}
	svc, err := auth.NewService(ctx, as, cfg)
	if err != nil {
		return nil, err
	}
	pw, created, err := svc.Bootstrap(ctx, f.adminUser, f.adminPassword)
	if err != nil {
		return nil, fmt.Errorf("create the first administrator: %w", err)
	}
	if created && pw != "" {
		// Printed once, to the terminal, never to the log.
		fmt.Fprintf(app.Err, "\nkubeward: created administrator %q with password %s\nkubeward: it is shown only this once; log in with POST /api/v1/auth/login\n\n", f.adminUser, pw)
	}
	set.Go(ctx, "auth-purge-revoked", func(ctx context.Context) error {
		svc.PurgeRevokedEvery(ctx, time.Hour)
		return nil
	})
	set.Go(ctx, "auth-revocation-sync", func(ctx context.Context) error {
		svc.SyncRevocations(ctx)
		return nil
	})
	a.Auth = svc
	return a, nil
}

// protectMetrics puts /metrics behind a viewer token when asked to.
func (f *apiFlags) protectMetrics(srv *server.Server, a *api.Server) {
	if f.metricsAuth {
		srv.ProtectMetrics(func(h http.Handler) http.Handler { return a.RequireRole(auth.RoleViewer, h) })
	}
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
