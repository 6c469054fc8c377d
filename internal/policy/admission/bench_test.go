package admission_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

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
