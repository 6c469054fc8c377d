package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeward/kubeward/internal/api"
	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/crowdsec"
	"github.com/kubeward/kubeward/internal/kubetest"
	"github.com/kubeward/kubeward/internal/respond"
	"github.com/kubeward/kubeward/internal/respond/executors"
	"github.com/kubeward/kubeward/internal/respond/ingressnginx"
)

// respondEnv is the response API with memory stores, and the CrowdSec
// Local API on the same decisions, as kubeward serve wires them.
type respondEnv struct {
	api, lapi *httptest.Server
	mgr       *respond.Manager
	decisions *crowdsec.MemoryStore
}

// mustExecutors returns the executors of every kind with default options.
func mustExecutors(t testing.TB, client kubernetes.Interface, dyn dynamic.Interface, decisions crowdsec.Store) map[respond.Kind]respond.Executor {
	t.Helper()
	execs, err := executors.All(client, dyn, decisions, executors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return execs
}

func newRespondEnv(t *testing.T, kc *kubetest.Cluster) *respondEnv {
	t.Helper()
	decisions, bouncers := crowdsec.NewMemoryStore(nil), crowdsec.NewMemoryBouncers()
	var view *cluster.View
	execs := mustExecutors(t, nil, nil, decisions)
	if kc != nil {
		clients, err := cluster.NewClients(kc.Config)
		if err != nil {
			t.Fatal(err)
		}
		execs = mustExecutors(t, clients.Client, clients.Dynamic, decisions)
		view = cluster.New(clients.Client, 0)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		if err := view.Start(ctx); err != nil {
			t.Fatalf("start cluster view: %v", err)
		}
	}
	mgr := respond.NewManager(respond.NewMemoryStore(), execs, respond.Options{})
	e := &respondEnv{mgr: mgr, decisions: decisions}
	e.api = httptest.NewServer(api.NewRespondHandler(mgr, view, decisions, bouncers, nil))
	e.lapi = httptest.NewServer(crowdsec.NewHandler(decisions, bouncers, crowdsec.Options{}))
	t.Cleanup(e.api.Close)
	t.Cleanup(e.lapi.Close)
	return e
}

// call sends a JSON request as user (no actor header when empty) and
// decodes a JSON answer into out when it is not nil.
func (e *respondEnv) call(t *testing.T, method, path, user string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.api.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set(api.ActorHeader, user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s %s: error %d is not problem+json: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

type streamAnswer struct {
	Deleted []struct{ Value string } `json:"deleted"`
	New     []struct{ Value string } `json:"new"`
}

func (e *respondEnv) poll(t *testing.T, key string) streamAnswer {
	t.Helper()
	req, _ := http.NewRequest("GET", e.lapi.URL+"/v1/decisions/stream", nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream poll: status %d", resp.StatusCode)
	}
	var a streamAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("stream poll: %v", err)
	}
	return a
}

func values(list []struct{ Value string }) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.Value)
	}
	return out
}

// TestBanReachesStreamBouncer registers a bouncer through the API, bans an
// address and a range, and checks a stream bouncer gets them, then gets the
// address as deleted after DELETE /api/v1/decisions/{id}.
func TestBanReachesStreamBouncer(t *testing.T) {
	e := newRespondEnv(t, nil)
	var created api.BouncerCreated
	if code := e.call(t, "POST", "/api/v1/bouncers", "admin", api.BouncerRequest{Name: "nginx"}, &created); code != http.StatusCreated || len(created.Key) < crowdsec.MinKeyLength {
		t.Fatalf("create bouncer = %d, %+v", code, created)
	}
	if code := e.call(t, "POST", "/api/v1/bouncers", "admin", api.BouncerRequest{Name: "nginx"}, nil); code != http.StatusConflict {
		t.Errorf("second bouncer with the same name = %d, want 409", code)
	}
	if a := e.poll(t, created.Key); len(a.New) != 0 {
		t.Fatalf("first poll of an empty store = %+v", a)
	}
	var ban respond.Action
	if code := e.call(t, "POST", "/api/v1/decisions", "alice", api.DecisionRequest{Value: "192.0.2.7", TTL: "1h", Reason: "alert 7"}, &ban); code != http.StatusCreated || ban.State != respond.StateApplied {
		t.Fatalf("ban = %d, %+v", code, ban)
	}
	if code := e.call(t, "POST", "/api/v1/decisions", "alice", api.DecisionRequest{Value: "10.1.0.0/16", Type: "captcha", TTL: "2h", Reason: "scan"}, nil); code != http.StatusCreated {
		t.Fatalf("range captcha = %d", code)
	}
	if got := values(e.poll(t, created.Key).New); len(got) != 2 || got[0] != "192.0.2.7" || got[1] != "10.1.0.0/16" {
		t.Fatalf("stream new = %v, want the address and the range", got)
	}
	var list struct {
		Items []api.DecisionView `json:"items"`
		Total int                `json:"total"`
	}
	if code := e.call(t, "GET", "/api/v1/decisions?ip=192.0.2.7", "", nil, &list); code != http.StatusOK || list.Total != 1 || list.Items[0].Value != "192.0.2.7" {
		t.Fatalf("list decisions by ip = %d, %+v", code, list)
	}
	id := list.Items[0].ID
	var reverted respond.Action
	if code := e.call(t, "DELETE", "/api/v1/decisions/"+jsonInt(id)+"?reason=false+positive", "bob", nil, &reverted); code != http.StatusOK || reverted.ID != ban.ID || reverted.State != respond.StateReverted {
		t.Fatalf("delete decision = %d, %+v; want its action reverted", code, reverted)
	}
	a := e.poll(t, created.Key)
	if got := values(a.Deleted); len(got) != 1 || got[0] != "192.0.2.7" || len(a.New) != 0 {
		t.Fatalf("stream after delete = %+v, want 192.0.2.7 deleted and nothing new", a)
	}
	var detail api.ActionDetail
	e.call(t, "GET", "/api/v1/actions/"+ban.ID, "", nil, &detail)
	if n := len(detail.Events); n != 4 || detail.Events[2].Actor != "bob" || detail.Events[3].Message != "false positive" {
		t.Errorf("audit trail of the ban = %+v; want pending, applied, reverting by bob, reverted", detail.Events)
	}
	if code := e.call(t, "DELETE", "/api/v1/decisions/999", "bob", nil, nil); code != http.StatusNotFound {
		t.Errorf("delete unknown decision = %d, want 404", code)
	}
}

func jsonInt(i int64) string { b, _ := json.Marshal(i); return string(b) }

// TestRespondAPIErrors checks the status of malformed or refused requests.
func TestRespondAPIErrors(t *testing.T) {
	e := newRespondEnv(t, nil)
	ban := api.DecisionRequest{Value: "192.0.2.1", TTL: "1h", Reason: "r"}
	tests := []struct {
		name, method, path, user string
		body                     any
		want                     int
	}{
		{"no actor", "POST", "/api/v1/decisions", "", ban, http.StatusUnauthorized},
		{"bad ttl", "POST", "/api/v1/decisions", "u", api.DecisionRequest{Value: "192.0.2.1", TTL: "soon", Reason: "r"}, http.StatusBadRequest},
		{"bad address", "POST", "/api/v1/decisions", "u", api.DecisionRequest{Value: "999.1.1.1", TTL: "1h", Reason: "r"}, http.StatusBadRequest},
		{"no reason", "POST", "/api/v1/decisions", "u", api.DecisionRequest{Value: "192.0.2.1", TTL: "1h"}, http.StatusBadRequest},
		{"ttl above max", "POST", "/api/v1/decisions", "u", api.DecisionRequest{Value: "192.0.2.1", TTL: "72h", Reason: "r"}, http.StatusBadRequest},
		{"unknown field", "POST", "/api/v1/actions", "u", map[string]any{"kind": "ip-ban", "bogus": 1}, http.StatusBadRequest},
		{"unknown kind", "POST", "/api/v1/actions", "u", api.ActionRequest{Kind: "nope", Target: respond.Target{Kind: "X", Name: "y"}, TTL: "1m", Reason: "r"}, http.StatusBadRequest},
		{"kind without cluster", "POST", "/api/v1/actions", "u", api.ActionRequest{Kind: ingressnginx.Kind, Target: respond.Target{Kind: "Ingress", Namespace: "a", Name: "b"}, TTL: "1m", Reason: "r"}, http.StatusBadRequest},
		{"unknown action", "GET", "/api/v1/actions/nope", "", nil, http.StatusNotFound},
		{"revert unknown", "POST", "/api/v1/actions/nope/revert", "u", api.RevertRequest{Reason: "r"}, http.StatusNotFound},
		{"revert without reason", "POST", "/api/v1/actions/nope/revert", "u", api.RevertRequest{}, http.StatusBadRequest},
		{"bad decision id", "DELETE", "/api/v1/decisions/abc", "u", nil, http.StatusBadRequest},
		{"bad filter", "GET", "/api/v1/decisions?ip=nope", "", nil, http.StatusBadRequest},
		{"bad limit", "GET", "/api/v1/actions?limit=0", "", nil, http.StatusBadRequest},
		{"no cluster", "GET", "/api/v1/cluster", "", nil, http.StatusServiceUnavailable},
		{"no cluster map", "GET", "/api/v1/service-map", "", nil, http.StatusServiceUnavailable},
		{"bouncer without name", "POST", "/api/v1/bouncers", "u", api.BouncerRequest{}, http.StatusBadRequest},
		{"unknown route", "GET", "/api/v1/nothing", "", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.call(t, tt.method, tt.path, tt.user, tt.body, nil); got != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
	// The ban applied once is busy the second time; a dry run is not.
	if code := e.call(t, "POST", "/api/v1/decisions", "u", ban, nil); code != http.StatusCreated {
		t.Fatalf("ban = %d", code)
	}
	if code := e.call(t, "POST", "/api/v1/decisions", "u", ban, nil); code != http.StatusConflict {
		t.Errorf("second ban of the same address = %d, want 409", code)
	}
	var list struct {
		Items                []respond.Action `json:"items"`
		Total, Limit, Offset int
	}
	if code := e.call(t, "GET", "/api/v1/actions?state=applied&limit=1&offset=0", "", nil, &list); code != http.StatusOK || list.Total != 1 || len(list.Items) != 1 || list.Limit != 1 {
		t.Errorf("list applied actions = %d, %+v", code, list)
	}
	if code := e.call(t, "GET", "/api/v1/actions?offset=5", "", nil, &list); code != http.StatusOK || list.Total != 1 || len(list.Items) != 0 {
		t.Errorf("list past the end = %d, %+v", code, list)
	}
}

// TestIngressRateLimitThroughAPI applies, inspects and reverts an
// ingress-nginx rate limit through the API against a real kube-apiserver.
func TestIngressRateLimitThroughAPI(t *testing.T) {
	kc := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	if _, err := kc.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pt := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: map[string]string{"nginx.ingress.kubernetes.io/limit-rps": "50"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		}}}}},
	}
	if _, err := kc.Client.NetworkingV1().Ingresses("shop").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newRespondEnv(t, kc)
	rps := func() string {
		t.Helper()
		got, err := kc.Client.NetworkingV1().Ingresses("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Annotations["nginx.ingress.kubernetes.io/limit-rps"]
	}
	req := api.ActionRequest{Kind: ingressnginx.Kind, Target: respond.Target{Kind: "Ingress", Namespace: "shop", Name: "web"},
		Params: map[string]string{"limit-rps": "5"}, TTL: "30m", Reason: "alert 42: request flood", DryRun: true}

	var dry respond.Action
	if code := e.call(t, "POST", "/api/v1/actions", "alice", req, &dry); code != http.StatusCreated || dry.State != respond.StateDryRun {
		t.Fatalf("dry run = %d, %+v", code, dry)
	}
	if got := rps(); got != "50" {
		t.Fatalf("dry run changed limit-rps to %q", got)
	}
	req.DryRun = false
	var applied respond.Action
	if code := e.call(t, "POST", "/api/v1/actions", "alice", req, &applied); code != http.StatusCreated || applied.State != respond.StateApplied || applied.Actor != "alice" {
		t.Fatalf("apply = %d, %+v", code, applied)
	}
	if got := rps(); got != "5" {
		t.Fatalf("limit-rps after apply = %q, want 5", got)
	}
	if !applied.ExpiresAt.Equal(applied.AppliedAt.Add(30 * time.Minute)) {
		t.Errorf("ExpiresAt = %s, want AppliedAt + 30m", applied.ExpiresAt)
	}
	if code := e.call(t, "POST", "/api/v1/actions", "alice", req, nil); code != http.StatusConflict {
		t.Errorf("second rate limit on the same Ingress = %d, want 409", code)
	}
	var reverted respond.Action
	if code := e.call(t, "POST", "/api/v1/actions/"+applied.ID+"/revert", "bob", api.RevertRequest{Reason: "flood over"}, &reverted); code != http.StatusOK || reverted.State != respond.StateReverted {
		t.Fatalf("revert = %d, %+v", code, reverted)
	}
	if got := rps(); got != "50" {
		t.Fatalf("limit-rps after revert = %q, want the user's 50 back", got)
	}
	if code := e.call(t, "POST", "/api/v1/actions/"+applied.ID+"/revert", "bob", api.RevertRequest{Reason: "again"}, nil); code != http.StatusConflict {
		t.Errorf("revert of a reverted action = %d, want 409", code)
	}
	var detail api.ActionDetail
	if code := e.call(t, "GET", "/api/v1/actions/"+applied.ID, "", nil, &detail); code != http.StatusOK {
		t.Fatalf("get action = %d", code)
	}
	var trail []string
	for _, ev := range detail.Events {
		trail = append(trail, ev.Actor+":"+string(ev.To))
	}
	want := []string{"alice:pending", "alice:applied", "bob:reverting", "bob:reverted"}
	if len(trail) != len(want) {
		t.Fatalf("audit trail = %v, want %v", trail, want)
	}
	for i := range want {
		if trail[i] != want[i] {
			t.Fatalf("audit trail = %v, want %v", trail, want)
		}
	}

	var info cluster.Info
	if err := kubetest.WaitFor(ctx, func(context.Context) (bool, error) {
		e.call(t, "GET", "/api/v1/cluster", "", nil, &info)
		return info.Workloads["Ingress"] == 1, nil
	}); err != nil {
		t.Fatalf("cluster info never showed the Ingress: %+v", info)
	}
	if info.Version == "" {
		t.Errorf("cluster info has no version: %+v", info)
	}
	var m cluster.ServiceMap
	if code := e.call(t, "GET", "/api/v1/service-map?namespace=shop", "", nil, &m); code != http.StatusOK || len(m.Nodes) == 0 {
		t.Errorf("service map = %d, %+v; want the Ingress", code, m)
	}
}

// FuzzRespondRequests sends arbitrary bodies and paths to the response
// routes: every answer must be a success or a 4xx problem, never a 5xx or
// a panic, and a created action must be retrievable.
func FuzzRespondRequests(f *testing.F) {
	f.Add("POST", "/api/v1/decisions", []byte(`{"value":"192.0.2.1","ttl":"1h","reason":"r"}`))
	f.Add("POST", "/api/v1/decisions", []byte(`{"value":"10.0.0.0/8","type":"captcha","ttl":"1m","reason":"r","dry_run":true}`))
	f.Add("POST", "/api/v1/actions", []byte(`{"kind":"ip-ban","target":{"kind":"Range","name":"::/0"},"ttl":"5m","reason":"x"}`))
	f.Add("POST", "/api/v1/actions/x/revert", []byte(`{"reason":"r"}`))
	f.Add("POST", "/api/v1/bouncers", []byte(`{"name":"b"}`))
	f.Add("DELETE", "/api/v1/decisions/1", []byte(nil))
	f.Add("GET", "/api/v1/decisions?range=::ffff:0:0/96&limit=2", []byte(nil))
	handler := func() http.Handler {
		decisions := crowdsec.NewMemoryStore(nil)
		mgr := respond.NewManager(respond.NewMemoryStore(), mustExecutors(f, nil, nil, decisions), respond.Options{})
		return api.NewRespondHandler(mgr, nil, decisions, crowdsec.NewMemoryBouncers(), nil)
	}
	h := handler()
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if method != "GET" && method != "POST" && method != "DELETE" {
			return
		}
		req, err := http.NewRequest(method, "http://kubeward"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.Path, "/api/v1/") {
			return
		}
		req.Header.Set(api.ActorHeader, "fuzz")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q = %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusCreated && req.URL.Path != "/api/v1/bouncers" {
			var a respond.Action
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.ID == "" {
				t.Fatalf("created answer is not an action: %s", rec.Body)
			}
			get := httptest.NewRecorder()
			h.ServeHTTP(get, httptest.NewRequest("GET", "/api/v1/actions/"+a.ID, nil))
			if get.Code != http.StatusOK {
				t.Fatalf("created action %s not found: %d", a.ID, get.Code)
			}
		}
	})
}
