package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/server"
	"github.com/kubeward/kubeward/internal/store"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// TestServeWiring does what `kubeward serve` must do to run the API with
// authentication, over a real listener: the store as opened by the CLI
// (a store.Store), the auth service on it, the first-admin bootstrap, the
// API server, and /metrics behind the API's authentication.
func TestServeWiring(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kubeward.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sq.Close() }()
	var st store.Store = sq // what cli.App.OpenStore returns

	// --- the wiring ---
	as, ok := st.(auth.Store)
	if !ok {
		t.Fatalf("store %s does not implement auth.Store", st.Backend())
	}
	svc, err := auth.NewService(ctx, as, auth.Config{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	password, created, err := svc.Bootstrap(ctx, "admin", "" /* --admin-password-file */)
	if err != nil {
		t.Fatal(err)
	}
	if created && password != "" {
		// serve prints this once, to stderr, and never logs it.
		t.Logf("first start: user admin, password %s (shown once)", strings.Repeat("*", len(password)))
	}
	go svc.PurgeRevokedEvery(ctx, time.Hour)
	srv := server.New("127.0.0.1:0", logger)
	a := &api.Server{Store: st, Logger: logger, Auth: svc}
	srv.Handle("/api/v1/", a.Handler())
	srv.ProtectMetrics(func(h http.Handler) http.Handler { return a.RequireRole(auth.RoleViewer, h) })
	// --- end of the wiring ---

	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, time.Second) }()
	base := "http://" + srv.Addr

	if !created || password == "" {
		t.Fatalf("Bootstrap on an empty store: created=%v, want a generated password", created)
	}
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"username":"admin","password":%q}`, password)))
	if err != nil {
		t.Fatal(err)
	}
	var pair auth.TokenPair
	err = json.NewDecoder(resp.Body).Decode(&pair)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login with the bootstrap password: %d %v", resp.StatusCode, err)
	}
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/api/v1/cves", "", http.StatusUnauthorized},
		{"/api/v1/cves", pair.AccessToken, http.StatusOK},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", pair.AccessToken, http.StatusOK},
		{"/healthz", "", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s (token %v): %d, want %d", tc.path, tc.token != "", resp.StatusCode, tc.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
