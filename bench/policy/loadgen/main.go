// Command loadgen drives a kubeward validating admission webhook with
// AdmissionReview v1 requests at a fixed rate (open loop: requests start on
// schedule whether or not earlier ones finished, and latency is measured
// from the scheduled start, so a stalled server cannot hide its queueing)
// over keep-alive TLS connections, and reports latency percentiles, errors
// and, given the server's pid, its peak RSS (VmHWM) and CPU time.
//
// The request bodies wrap the manifests of package corpus: Pods,
// Deployments, StatefulSets and Services, compliant and not.
//
//	loadgen -url https://127.0.0.1:8443/validate -ca certs/ca.crt -rate 2000 -duration 10s -pid 1234
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubeward/kubeward/bench/policy/corpus"
)

type options struct {
	url, caFile, serverName string
	rate                    int
	duration, warmup        time.Duration
	conns, docs             int
	pid                     int
	http2                   bool
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "https://127.0.0.1:8443/validate", "webhook URL")
	flag.StringVar(&o.caFile, "ca", "", "PEM CA bundle the webhook's certificate chains to (required)")
	flag.StringVar(&o.serverName, "server-name", "", "TLS server name to verify (default: the URL's host)")
	flag.IntVar(&o.rate, "rate", 2000, "requests per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured run length")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured run before the measurement")
	flag.IntVar(&o.conns, "conns", 16, "keep-alive connections")
	flag.IntVar(&o.docs, "docs", 240, "distinct manifests in the request mix")
	flag.IntVar(&o.pid, "pid", 0, "server process id: report its VmHWM, VmRSS and CPU time (Linux /proc)")
	flag.BoolVar(&o.http2, "http2", false, "use HTTP/2 (the apiserver's webhook client does); default HTTP/1.1")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		slog.Error("loadgen failed", "err", err)
		os.Exit(1)
	}
}

// request is one prepared review.
type request struct {
	uid  string
	body []byte
}

func bodies(n int) ([]request, error) {
	var out []request
	for i, d := range corpus.Generate(n, 2) {
		raw, err := json.Marshal(d.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", d.Name, err)
		}
		gv := strings.SplitN(d.Object["apiVersion"].(string), "/", 2)
		gvk := metav1.GroupVersionKind{Version: gv[0], Kind: d.Kind}
		if len(gv) == 2 {
			gvk = metav1.GroupVersionKind{Group: gv[0], Version: gv[1], Kind: d.Kind}
		}
		res := metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(d.Kind) + "s"}
		uid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID: types.UID(uid), Kind: gvk, Resource: res, RequestKind: &gvk, RequestResource: &res,
				Name: d.Name, Namespace: d.Namespace, Operation: admissionv1.Create,
				UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:ci:deployer", Groups: []string{"system:serviceaccounts"}},
				Object:   runtime.RawExtension{Raw: raw},
				Options:  runtime.RawExtension{Raw: []byte(`{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}`)},
			},
		}
		b, err := json.Marshal(review)
		if err != nil {
			return nil, fmt.Errorf("encode review: %w", err)
		}
		out = append(out, request{uid: uid, body: b})
	}
	return out, nil
}

// outcome is one request's result.
type outcome struct {
	latency time.Duration
	err     error
	allowed bool
}

func run(ctx context.Context, o options) error {
	if o.caFile == "" || o.rate <= 0 || o.conns <= 0 {
		return errors.New("-ca is required; -rate and -conns must be positive")
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("%s holds no PEM certificate", o.caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: o.serverName, MinVersion: tls.VersionTLS12},
		MaxConnsPerHost:     o.conns,
		MaxIdleConnsPerHost: o.conns,
		IdleConnTimeout:     time.Minute,
		ForceAttemptHTTP2:   o.http2,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	reqs, err := bodies(o.docs)
	if err != nil {
		return err
	}
	// One request to fail fast on a wrong URL or CA.
	if oc := send(ctx, client, o.url, reqs[0], time.Now()); oc.err != nil {
		return fmt.Errorf("first request: %w", oc.err)
	}
	fmt.Printf("warm-up: %s at %d req/s\n", o.warmup, o.rate)
	phase(ctx, client, o, reqs, o.warmup)
	cpu0, err := procCPU(o.pid)
	if err != nil {
		return fmt.Errorf("-pid %d: %w", o.pid, err)
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	results := phase(ctx, client, o, reqs, o.duration)
	elapsed := time.Since(t0)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu1, err := procCPU(o.pid)
	if err != nil {
		return fmt.Errorf("-pid %d: the server exited during the run? %w", o.pid, err)
	}
	report(o, results, elapsed, cpuSeconds(ru1)-cpuSeconds(ru0), cpu1-cpu0)
	return nil
}

// phase runs the schedule for d and returns every outcome.
func phase(ctx context.Context, client *http.Client, o options, reqs []request, d time.Duration) []outcome {
	interval := time.Second / time.Duration(o.rate)
	total := int(d / interval)
	out := make([]outcome, total)
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = send(ctx, client, o.url, reqs[i%len(reqs)], at)
		}()
	}
	wg.Wait()
	return out
}

func send(ctx context.Context, client *http.Client, url string, r request, scheduled time.Time) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{latency: time.Since(scheduled), err: err}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	lat := time.Since(scheduled)
	if err != nil {
		return outcome{latency: lat, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return outcome{latency: lat, err: fmt.Errorf("status %d: %.200s", resp.StatusCode, body)}
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Response == nil || string(review.Response.UID) != r.uid {
		return outcome{latency: lat, err: fmt.Errorf("bad review response (err %v): %.200s", err, body)}
	}
	return outcome{latency: lat, allowed: review.Response.Allowed}
}

func report(o options, rs []outcome, elapsed time.Duration, clientCPU, serverCPU float64) {
	var lats []time.Duration
	errs, denied := 0, 0
	var firstErr error
	for _, r := range rs {
		if r.err != nil {
			errs++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		if !r.allowed {
			denied++
		}
		lats = append(lats, r.latency)
	}
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))]
	}
	proto := "HTTP/1.1"
	if o.http2 {
		proto = "HTTP/2"
	}
	fmt.Printf("requests: %d in %s (%.0f req/s offered %d) over %d %s keep-alive TLS connections\n",
		len(rs), elapsed.Round(time.Millisecond), float64(len(rs))/elapsed.Seconds(), o.rate, o.conns, proto)
	fmt.Printf("errors: %d; denied: %d; allowed: %d\n", errs, denied, len(lats)-denied)
	if firstErr != nil {
		fmt.Printf("first error: %v\n", firstErr)
	}
	fmt.Printf("latency (from scheduled start): p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
	fmt.Printf("loadgen CPU: %.2f s (%.0f%% of one core); machine: %d CPUs, load average %s\n",
		clientCPU, 100*clientCPU/elapsed.Seconds(), goruntime.NumCPU(), loadAverage())
	if o.pid > 0 {
		hwm, rss := procMem(o.pid)
		fmt.Printf("server pid %d: CPU %.2f s (%.0f%% of one core), VmHWM %s, VmRSS %s\n",
			o.pid, serverCPU, 100*serverCPU/elapsed.Seconds(), hwm, rss)
	}
}

func cpuSeconds(ru syscall.Rusage) float64 {
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// procCPU returns a process's user+system CPU seconds from /proc/PID/stat.
func procCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// procMem returns VmHWM and VmRSS as written in /proc/PID/status.
func procMem(pid int) (hwm, rss string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?", "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
	}
	return hwm, rss
}

// loadAverage returns the 1, 5 and 15 minute load averages of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
