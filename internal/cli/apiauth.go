package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/auth"
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
}

func (f *apiFlags) bind(fs *pflag.FlagSet) {
	fs.BoolVar(&f.auth, "api-auth", true, "require authentication on /api/v1 (JWT or API token); false serves every request as an administrator and is allowed only on a loopback --listen address")
	fs.StringVar(&f.adminUser, "admin-user", "admin", "name of the first administrator, created at first start")
	fs.StringVar(&f.adminPassword, "admin-password-file", "", "file holding the first administrator's password (default: one is generated and printed once)")
	fs.StringSliceVar(&f.corsOrigins, "api-cors-origin", nil, "origins allowed to call the API from a browser (CORS is off by default)")
	fs.BoolVar(&f.trustProxy, "api-trust-proxy", false, "take the client address from X-Forwarded-For (only behind a trusted proxy)")
	fs.BoolVar(&f.metricsAuth, "metrics-auth", false, "require a viewer token on /metrics")
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
	svc, err := auth.NewService(ctx, as, auth.Config{Logger: app.Logger})
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
