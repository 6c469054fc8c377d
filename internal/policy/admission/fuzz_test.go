package admission_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// FuzzReview posts arbitrary bodies to the handler: it must answer 4xx or
// a well-formed AdmissionReview response echoing the request uid, and
// never panic.
func FuzzReview(f *testing.F) {
	for _, name := range []string{"pod-privileged-create.json", "deployment-update.json", "pod-bypass-annotation.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", "reviews", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{"kind":"Pod"}}}`))
	eng, err := packs.Build(packs.Config{Packs: []string{packs.PSSRestricted, packs.BestPractice, packs.Hardening},
		Policies: []string{filepath.Join("testdata", "policies", "immutable-team.yaml")}})
	if err != nil {
		f.Fatal(err)
	}
	h, err := admission.NewHandler(admission.Config{Engine: eng, DefaultAction: policy.ActionDeny, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, admission.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 400 && rec.Code < 500 {
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("accepted a body that is not JSON: %v", err)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		if out.Response == nil || out.Response.UID != in.Request.UID {
			t.Fatalf("response does not echo uid %q", in.Request.UID)
		}
	})
}
