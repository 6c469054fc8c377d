package admission_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/kubeward/kubeward/internal/bus"
	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/admission"
	"github.com/kubeward/kubeward/internal/policy/admission/webhookcert"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

var update = flag.Bool("update", false, "rewrite golden files")

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder is a bus.Publisher that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func (r *recorder) Publish(_ context.Context, msgs ...bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) take() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

// server starts the handler behind TLS with a certificate from
// webhookcert and returns a client that trusts only its CA bundle.
func server(t testing.TB, cfg admission.Config) (*httptest.Server, *http.Client) {
	t.Helper()
	cfg.Logger = quiet
	h, err := admission.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := webhookcert.NewManager(webhookcert.Options{Dir: t.TempDir(), DNSNames: []string{"127.0.0.1", "kubeward.kubeward.svc"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+admission.Path, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = mgr.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mgr.CABundle()) {
		t.Fatal("empty CA bundle")
	}
	// The apiserver dials the webhook Service by DNS name, so the client
	// sends SNI and the server answers from the manager's certificate.
	return srv, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: "kubeward.kubeward.svc", MinVersion: tls.VersionTLS12,
	}}}
}

func engine(t *testing.T) *policy.Engine {
	t.Helper()
	e, err := packs.Build(packs.Config{
		Packs:    []string{packs.PSSBaseline, packs.BestPractice},
		Policies: []string{filepath.Join("testdata", "policies", "immutable-team.yaml")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func post(t *testing.T, c *http.Client, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := c.Post(url+admission.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestReviews(t *testing.T) {
	pub := &recorder{}
	base := admission.Config{
		Engine:        engine(t),
		Actions:       map[string]policy.Action{packs.PSSBaseline: policy.ActionDeny},
		DefaultAction: policy.ActionWarn,
		MinSeverity:   policy.SeverityMedium,
		OwnNamespace:  "kubeward",
		BypassGroups:  []string{"breakglass"},
		Publisher:     pub,
	}
	bypassAll := base
	bypassAll.Bypass = true

	tests := []struct {
		name, review string
		cfg          admission.Config
		allowed      bool
		// published lists "decision/action/policy/rule" of the violations.
		published []string
	}{
		{"privileged pod denied", "pod-privileged-create.json", base, false,
			[]string{"deny/Deny/pss-baseline/privileged"}},
		{"compliant pod admitted with warnings", "pod-compliant-create.json", base, true, nil},
		{"kube-system never evaluated", "pod-kube-system.json", base, true, nil},
		{"break-glass annotation bypasses", "pod-bypass-annotation.json", base, true,
			[]string{"bypassed/Deny/pss-baseline/privileged"}},
		{"annotation ignored for other users", "pod-bypass-annotation-unauthorised.json", base, false,
			[]string{"deny/Deny/pss-baseline/privileged"}},
		{"global bypass admits and records", "pod-privileged-create.json", bypassAll, true,
			[]string{"bypassed/Deny/pss-baseline/privileged"}},
		{"update: VAP denies, CEL oldObject audits", "deployment-update.json", base, false,
			[]string{"deny/Deny/max-replicas/validations[0]", "deny/Audit/immutable-team/team-label-unchanged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := server(t, tt.cfg)
			body, err := os.ReadFile(filepath.Join("testdata", "reviews", tt.review))
			if err != nil {
				t.Fatal(err)
			}
			code, out := post(t, client, srv.URL, body)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, out)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(out, &review); err != nil {
				t.Fatal(err)
			}
			var in admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatal(err)
			}
			if review.Response == nil || review.Response.UID != in.Request.UID {
				t.Fatalf("response does not echo the request uid: %s", out)
			}
			if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
				t.Errorf("response type %s %s", review.APIVersion, review.Kind)
			}
			if review.Response.Allowed != tt.allowed {
				t.Errorf("allowed = %v, want %v: %s", review.Response.Allowed, tt.allowed, out)
			}
			var got []string
			for _, m := range pub.take() {
				if m.Topic != admission.TopicViolations {
					t.Errorf("published on %q", m.Topic)
				}
				var v admission.Violation
				if err := json.Unmarshal(m.Value, &v); err != nil {
					t.Fatal(err)
				}
				if m.Key != v.Result.Resource.Namespace+"/"+v.Result.Resource.Kind+"/"+v.Result.Resource.Name {
					t.Errorf("key %q does not name the resource", m.Key)
				}
				got = append(got, v.Decision+"/"+string(v.Action)+"/"+v.Result.Policy+"/"+v.Result.Rule)
			}
			if strings.Join(got, ",") != strings.Join(tt.published, ",") {
				t.Errorf("published %v, want %v", got, tt.published)
			}
			golden(t, strings.ReplaceAll(tt.name, " ", "_")+".json", review.Response)
		})
	}
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	path := filepath.Join("testdata", "golden", strings.NewReplacer(":", "", ",", "").Replace(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(want, data) {
		t.Errorf("response differs from %s:\n%s", path, data)
	}
}

func TestBadRequests(t *testing.T) {
	cfg := admission.Config{Engine: engine(t), MaxBodyBytes: 64 << 10}
	srv, client := server(t, cfg)
	valid, err := os.ReadFile(filepath.Join("testdata", "reviews", "pod-compliant-create.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, ctype string
		body                []byte
		want                int
	}{
		{"GET", http.MethodGet, "application/json", nil, http.StatusMethodNotAllowed},
		{"wrong content type", http.MethodPost, "text/plain", valid, http.StatusUnsupportedMediaType},
		{"too large", http.MethodPost, "application/json", bytes.Repeat([]byte(" "), 65<<10), http.StatusRequestEntityTooLarge},
		{"not json", http.MethodPost, "application/json", []byte("{"), http.StatusBadRequest},
		{"v1beta1", http.MethodPost, "application/json", bytes.Replace(valid, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1), http.StatusBadRequest},
		{"no request", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusBadRequest},
	}
	cfg.Logger = quiet
	h, err := admission.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Method routing is the mux's job in production; exercise the
			// handler's own check directly for GET.
			if tt.method == http.MethodGet {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, admission.Path, nil))
				if rec.Code != tt.want {
					t.Fatalf("status %d, want %d", rec.Code, tt.want)
				}
				return
			}
			req, err := http.NewRequest(tt.method, srv.URL+admission.Path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.ctype)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestObjectThatDoesNotDecodeIsRefused(t *testing.T) {
	srv, client := server(t, admission.Config{Engine: engine(t)})
	body, err := os.ReadFile(filepath.Join("testdata", "reviews", "pod-compliant-create.json"))
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.Replace(body, []byte(`"containers": [`), []byte(`"containers": "nope", "x": [`), 1)
	code, out := post(t, client, srv.URL, body)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &review); err != nil {
		t.Fatal(err)
	}
	if review.Response.Allowed || review.Response.Result == nil || review.Response.Result.Code != http.StatusBadRequest {
		t.Fatalf("want a 400 refusal, got %s", out)
	}
}
