package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/config"
	"github.com/kubeward/kubeward/internal/alert/dispatch"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/service"
	"github.com/kubeward/kubeward/internal/auth"
	"github.com/kubeward/kubeward/internal/store/storetest"
)

// BenchmarkAuthenticatedListCVEs is a closed-loop load generator: workers
// concurrent keep-alive clients send GET /api/v1/cves (first page of 50)
// over loopback TCP to a server holding 1,000 real CVE records, each
// request authenticated (JWT access token with its revocation check, or an
// API token looked up by hash). It reports throughput and latency
// percentiles.
//
//	go test ./internal/api -run '^$' -bench AuthenticatedListCVEs -benchtime 20000x
func BenchmarkAuthenticatedListCVEs(b *testing.B) {
	e := newAuthEnv(b)
	if _, err := e.st.UpsertCVEs(context.Background(), storetest.RealRecords(b, 1000)); err != nil {
		b.Fatal(err)
	}
	creds := map[string]string{
		"jwt":       e.login(auth.RoleViewer).AccessToken,
		"api-token": e.apiToken(auth.RoleViewer),
	}
	for _, kind := range []string{"jwt", "api-token"} {
		b.Run(kind, func(b *testing.B) {
			loadTest(b, e.srv.URL+"/api/v1/cves", creds[kind], 16)
		})
	}
	// The same route and store without authentication: the difference is
	// what authentication costs.
	open := httptest.NewServer((&Server{Store: e.st, InsecureNoAuth: true}).Handler())
	defer open.Close()
	b.Run("no-auth-baseline", func(b *testing.B) {
		loadTest(b, open.URL+"/api/v1/cves", "", 16)
	})
	// Authentication and the role check in front of a handler that does
	// nothing: what the auth layer itself sustains.
	guardOnly := httptest.NewServer(e.api.RequireRole(auth.RoleViewer, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	defer guardOnly.Close()
	b.Run("jwt-guard-only", func(b *testing.B) {
		loadTest(b, guardOnly.URL+"/", creds["jwt"], 16)
	})
}

// loadClients is how many concurrent keep-alive clients the load
// generator runs.
const loadClients = 16

// BenchmarkAuthenticatedListAlerts is the same closed-loop load generator
// for GET /api/v1/alerts (first page of 50, the default) on a server
// holding 1,000 or 10,000 alerts stored in SQLite through the alert
// pipeline (a third of them resolved, one in ten acknowledged), each
// request authenticated by a JWT access token or an API token; no-auth is
// the same server without authentication, so the difference is what
// authentication costs. It reports req/s and the p50/p99 latency seen by
// the clients.
//
//	go test ./internal/api -run '^$' -bench AuthenticatedListAlerts -benchtime 20000x
//
// Profile the whole request path (server and load generator) with
// -cpuprofile cpu.out, or -memprofile mem.out for allocations.
func BenchmarkAuthenticatedListAlerts(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			e := newAuthEnv(b)
			routes := alertLoadRoutes(b, e.st, n)
			logger := slog.New(slog.DiscardHandler)
			ts := httptest.NewServer((&Server{Store: e.st, Auth: e.svc, Logger: logger, ExtraRoutes: routes}).Handler())
			defer ts.Close()
			open := httptest.NewServer((&Server{Store: e.st, InsecureNoAuth: true, Logger: logger, ExtraRoutes: routes}).Handler())
			defer open.Close()
			creds := map[string]string{
				"jwt":       e.login(auth.RoleViewer).AccessToken,
				"api-token": e.apiToken(auth.RoleViewer),
			}
			for _, kind := range []string{"jwt", "api-token"} {
				b.Run(kind, func(b *testing.B) {
					loadTest(b, ts.URL+"/api/v1/alerts", creds[kind], loadClients)
				})
			}
			b.Run("no-auth", func(b *testing.B) {
				loadTest(b, open.URL+"/api/v1/alerts", "", loadClients)
			})
		})
	}
}

// alertLoadRoutes stores n alerts in st through a real alert pipeline
// (a third of them resolved, one in ten acknowledged) and returns the
// alert routes over it.
func alertLoadRoutes(b *testing.B, st alert.Storage, n int) []Route {
	b.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	cfg, err := config.Load([]byte("route:\n  receiver: none\n  group_by: [namespace]\nreceivers:\n  - name: none\n"))
	if err != nil {
		b.Fatal(err)
	}
	ints, err := cfg.Integrations(notify.Options{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Config: cfg, Storage: st, Integrations: ints, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	severities := []alert.Severity{alert.SeverityCritical, alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow, alert.SeverityInfo}
	sources := []alert.Source{alert.SourceFinding, alert.SourceViolation, alert.SourceDetection}
	alerts := make([]alert.Alert, n)
	for i := range alerts {
		alerts[i] = alert.Alert{
			Labels: alert.LabelSet{"alertname": fmt.Sprintf("Alert%03d", i%40), "namespace": fmt.Sprintf("ns-%02d", i%25),
				"pod": fmt.Sprintf("pod-%05d", i)},
			Annotations:  map[string]string{"summary": fmt.Sprintf("alert %d in namespace ns-%02d", i, i%25), "runbook": "https://runbooks.example.com/kubeward"},
			Severity:     severities[i%len(severities)],
			Source:       sources[i%len(sources)],
			StartsAt:     now.Add(-time.Duration(i+1) * time.Second),
			GeneratorID:  fmt.Sprintf("finding/%08x", i),
			GeneratorURL: fmt.Sprintf("https://kubeward.example.com/findings/%08x", i),
		}
		if i%3 == 0 {
			alerts[i].EndsAt = now.Add(-time.Second)
		}
	}
	for batch := range slices.Chunk(alerts, 1000) {
		if res, err := d.Ingest(ctx, batch...); err != nil || res.Accepted != len(batch) {
			b.Fatalf("ingest %d alerts: accepted %d, rejected %+v, err %v", len(batch), res.Accepted, res.Rejected, err)
		}
	}
	var acked []alert.Alert
	for i := 0; i < n; i += 10 {
		a := alerts[i].Clone()
		if err := a.Normalize(); err != nil {
			b.Fatal(err)
		}
		stored, err := st.GetAlert(ctx, a.Fingerprint())
		if err != nil {
			b.Fatal(err)
		}
		stored.Ack = &alert.Ack{By: "oscar", Comment: "looking into it", At: now}
		acked = append(acked, stored)
	}
	if err := st.PutAlerts(ctx, acked); err != nil {
		b.Fatal(err)
	}
	return AlertRoutes(service.New(d, st, cfg, ints, alert.SystemClock{}), logger)
}

func loadTest(b *testing.B, url, token string, workers int) {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: workers, MaxIdleConnsPerHost: workers, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	get := func() error {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for range workers { // warm the connections
		if err := get(); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([][]time.Duration, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := get(); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	// CPU time of the whole process (server and load generator) per
	// request: unlike req/s it hardly depends on what else the machine
	// runs, and 2 cores / cpu-us/req bounds the rate on 2 cores.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-us/req")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
