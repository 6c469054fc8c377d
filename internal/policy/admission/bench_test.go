package admission_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// BenchmarkReview measures one AdmissionReview (decode, PSS restricted,
// best-practice and hardening, encode) through ServeHTTP, without TLS.
func BenchmarkReview(b *testing.B) {
	eng, err := packs.Build(packs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := admission.NewHandler(admission.Config{Engine: eng, DefaultAction: policy.ActionWarn, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("testdata", "reviews", "pod-privileged-create.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, admission.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkReviewTLS measures reviews end to end over keep-alive loopback
// TLS (HTTP/1.1, the webhookcert certificate), with the default packs
// deciding Deny, rotating compliant, privileged and update reviews. It
// reports the p50 and p99 latency of the closed-loop requests besides
// ns/op; bench/policy/loadgen is the open-loop load test.
func BenchmarkReviewTLS(b *testing.B) {
	eng, err := packs.Build(packs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv, client := server(b, admission.Config{Engine: eng, DefaultAction: policy.ActionDeny})
	var bodies [][]byte
	for _, name := range []string{"pod-compliant-create.json", "pod-privileged-create.json", "deployment-update.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", "reviews", name))
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	var mu sync.Mutex
	var lats []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			start := time.Now()
			resp, err := client.Post(srv.URL+admission.Path, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			mine = append(mine, time.Since(start))
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("status %d, reading body: %v", resp.StatusCode, err)
				return
			}
		}
		mu.Lock()
		lats = append(lats, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
	}
}
