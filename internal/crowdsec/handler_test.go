package crowdsec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	keyA = "key-a-0123456789abcdef"
	keyB = "key-b-0123456789abcdef"
)

type fixture struct {
	clock    *fakeClock
	store    *MemoryStore
	bouncers *MemoryBouncers
	server   *httptest.Server
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clock := &fakeClock{t: t0}
	f := &fixture{clock: clock, store: NewMemoryStore(clock.Now), bouncers: NewMemoryBouncers()}
	for name, key := range map[string]string{"a": keyA, "b": keyB} {
		if err := f.bouncers.Add(context.Background(), name, key); err != nil {
			t.Fatal(err)
		}
	}
	f.server = httptest.NewServer(NewHandler(f.store, f.bouncers, Options{Now: clock.Now}))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fixture) add(t testing.TB, typ, scope, value, scenario string, ttl time.Duration) Decision {
	t.Helper()
	d, err := f.store.Add(context.Background(), Decision{Type: typ, Scope: scope, Value: value, Scenario: scenario, Until: f.clock.Now().Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) get(t testing.TB, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := f.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

var uuidField = regexp.MustCompile(`"uuid":"([^"]*)"`)

// maskUUIDs checks every uuid is a valid UUID and replaces it with a
// placeholder so the answer can be compared with a golden file.
func maskUUIDs(t *testing.T, body []byte) []byte {
	t.Helper()
	for _, m := range uuidField.FindAllSubmatch(body, -1) {
		if _, err := uuid.ParseBytes(m[1]); err != nil {
			t.Errorf("uuid %q: %v", m[1], err)
		}
	}
	return uuidField.ReplaceAll(body, []byte(`"uuid":"<uuid>"`))
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

// TestWireContract pins the exact bytes of every answer a bouncer can get.
func TestWireContract(t *testing.T) {
	f := newFixture(t)
	f.add(t, TypeBan, "Ip", "192.0.2.7", "kubeward/http-flood", 4*time.Hour)
	f.add(t, TypeCaptcha, "range", "198.51.100.77/24", "kubeward/scanner", 30*time.Minute)
	f.add(t, TypeBan, ScopeIP, "2001:db8::1", "kubeward/anomaly <flow>", time.Hour)
	f.clock.Advance(2*time.Second + 500*time.Millisecond)

	tests := []struct {
		name, path, key string
		code            int
	}{
		{"decisions_all", "/v1/decisions", keyA, 200},
		{"decisions_ip_in_range", "/v1/decisions?ip=198.51.100.9", keyA, 200},
		{"decisions_ip_exact", "/v1/decisions?ip=192.0.2.7", keyA, 200},
		{"decisions_ip6", "/v1/decisions?ip=2001:db8::1", keyA, 200},
		{"decisions_no_match", "/v1/decisions?ip=203.0.113.1", keyA, 200},
		{"decisions_range_contained", "/v1/decisions?range=198.51.0.0/16&contains=false", keyA, 200},
		{"decisions_range_not_containing", "/v1/decisions?range=198.51.0.0/16", keyA, 200},
		{"decisions_scope_type", "/v1/decisions?scope=ip&type=ban", keyA, 200},
		{"decisions_value", "/v1/decisions?value=198.51.100.0/24", keyA, 200},
		{"decisions_unknown_filter", "/v1/decisions?foo=bar", keyA, 400},
		{"decisions_bad_ip", "/v1/decisions?ip=not-an-ip", keyA, 400},
		{"forbidden_bad_key", "/v1/decisions", "wrong-key-0123456789", 403},
		{"forbidden_no_key", "/v1/decisions/stream?startup=true", "", 403},
		{"stream_startup", "/v1/decisions/stream?startup=true", keyA, 200},
		{"stream_nothing_new", "/v1/decisions/stream", keyA, 200},
		{"stream_scopes_ip", "/v1/decisions/stream?startup=true&scopes=ip", keyB, 200},
		{"stream_bad_startup", "/v1/decisions/stream?startup=maybe", keyB, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.get(t, tt.path, tt.key)
			if code != tt.code {
				t.Errorf("status %d, want %d (body %s)", code, tt.code, body)
			}
			if tt.code == 200 && !json.Valid(body) {
				t.Errorf("body is not JSON: %s", body)
			}
			checkGolden(t, tt.name, maskUUIDs(t, body))
		})
	}
}

type streamAnswer struct {
	New     []wireDecision `json:"new"`
	Deleted []wireDecision `json:"deleted"`
}

func (f *fixture) poll(t *testing.T, key string, startup bool) streamAnswer {
	t.Helper()
	code, body := f.get(t, fmt.Sprintf("/v1/decisions/stream?startup=%t", startup), key)
	if code != 200 {
		t.Fatalf("stream: status %d: %s", code, body)
	}
	var a streamAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("stream answer %s: %v", body, err)
	}
	return a
}

func values(ds []wireDecision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Value+" "+d.Duration)
	}
	return out
}

// TestStreamLifecycle follows two bouncers through startup, a new ban, an
// expiry and a deletion: each change reaches each bouncer in exactly one poll.
func TestStreamLifecycle(t *testing.T) {
	f := newFixture(t)
	ban := f.add(t, TypeBan, ScopeIP, "192.0.2.1", "s", time.Hour)
	f.add(t, TypeBan, ScopeRange, "10.0.0.0/8", "s", time.Minute)

	type step struct {
		name         string
		do           func()
		key          string
		startup      bool
		wantNew, del []string
	}
	var later Decision
	steps := []step{
		{name: "startup A", key: keyA, startup: true, wantNew: []string{"192.0.2.1 1h0m0s", "10.0.0.0/8 1m0s"}},
		{name: "A again: nothing", key: keyA},
		{name: "new ban reaches A in one poll", key: keyA,
			do: func() {
				f.clock.Advance(10 * time.Second)
				later = f.add(t, TypeBan, ScopeIP, "192.0.2.2", "s", 4*time.Hour)
			},
			wantNew: []string{"192.0.2.2 4h0m0s"}},
		{name: "B startup sees everything", key: keyB, startup: true,
			wantNew: []string{"192.0.2.1 59m50s", "10.0.0.0/8 50s", "192.0.2.2 4h0m0s"}},
		{name: "expiry reported as deleted", key: keyA,
			do:  func() { f.clock.Advance(2 * time.Minute) },
			del: []string{"10.0.0.0/8 -1m10s"}},
		{name: "expiry reported once", key: keyA},
		{name: "deletion reported as deleted", key: keyA,
			do: func() {
				f.clock.Advance(time.Second)
				if _, err := f.store.Delete(context.Background(), ban.ID); err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(time.Second)
			},
			del: []string{"192.0.2.1 -1s"}},
		{name: "B gets both endings at its next poll", key: keyB,
			del: []string{"192.0.2.1 -1s", "10.0.0.0/8 -1m12s"}},
		{name: "A startup again: active and retained deleted", key: keyA, startup: true,
			wantNew: []string{"192.0.2.2 3h57m58s"}, del: []string{"192.0.2.1 -1s", "10.0.0.0/8 -1m12s"}},
		{name: "deletion at the instant of a poll is not missed (ends within the 2s overlap are repeated)", key: keyA,
			do: func() {
				if _, err := f.store.Delete(context.Background(), later.ID); err != nil {
					t.Fatal(err)
				}
			},
			del: []string{"192.0.2.1 -1s", "192.0.2.2 0s"}},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		a := f.poll(t, s.key, s.startup)
		if got := values(a.New); fmt.Sprint(got) != fmt.Sprint(s.wantNew) {
			t.Errorf("%s: new = %q, want %q", s.name, got, s.wantNew)
		}
		if got := values(a.Deleted); fmt.Sprint(got) != fmt.Sprint(s.del) {
			t.Errorf("%s: deleted = %q, want %q", s.name, got, s.del)
		}
	}
	if later.ID == 0 {
		t.Fatal("decision was not added")
	}
}

// TestStartupDump30k checks that a startup poll returns all 30,000 decisions
// (the size CrowdSec pages by); BenchmarkStartupDump30k measures its speed.
func TestStartupDump30k(t *testing.T) {
	f := newFixture(t)
	fill(t, f.store, 30000, f.clock.Now())
	a := f.poll(t, keyA, true)
	if len(a.New) != 30000 {
		t.Fatalf("startup returned %d decisions, want 30000", len(a.New))
	}
	seen := map[string]bool{}
	for _, d := range a.New {
		seen[d.Value] = true
	}
	if len(seen) != 30000 {
		t.Fatalf("startup returned %d distinct values, want 30000", len(seen))
	}
}

func fill(tb testing.TB, s *MemoryStore, n int, now time.Time) {
	tb.Helper()
	for i := 0; i < n; i++ {
		_, err := s.Add(context.Background(), Decision{Type: TypeBan, Scope: ScopeIP,
			Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Scenario: "kubeward/bench", Until: now.Add(time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkStartupDump30k measures one startup poll of 30,000 decisions
// through the handler (authentication, query, JSON encoding).
func BenchmarkStartupDump30k(b *testing.B) {
	clock := &fakeClock{t: t0}
	store := NewMemoryStore(clock.Now)
	bouncers := NewMemoryBouncers()
	if err := bouncers.Add(context.Background(), "a", keyA); err != nil {
		b.Fatal(err)
	}
	fill(b, store, 30000, clock.Now())
	h := NewHandler(store, bouncers, Options{Now: clock.Now})
	req := httptest.NewRequest(http.MethodGet, "/v1/decisions/stream?startup=true", nil)
	req.Header.Set("X-Api-Key", keyA)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	old := f.add(t, TypeBan, ScopeIP, "192.0.2.1", "s", time.Minute)
	live := f.add(t, TypeBan, ScopeIP, "192.0.2.2", "s", time.Hour)
	f.clock.Advance(10 * time.Minute)
	n, err := f.store.Prune(context.Background(), f.clock.Now().Add(-5*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if _, err := f.store.Delete(context.Background(), old.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned decision still there: %v", err)
	}
	list, err := f.store.Active(context.Background(), f.clock.Now(), &Filter{}, 0, live.ID)
	if err != nil || len(list) != 1 || list[0].ID != live.ID {
		t.Fatalf("live decision lost: %v, %v", list, err)
	}
}

// TestStreamConcurrentAdds polls while decisions are being added: every
// decision must reach the bouncer exactly once across its polls.
func TestStreamConcurrentAdds(t *testing.T) {
	f := newFixture(t)
	const n = 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if _, err := f.store.Add(context.Background(), Decision{Type: TypeBan, Scope: ScopeIP,
				Value: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Until: f.clock.Now().Add(time.Hour)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]int{}
	collect := func(startup bool) {
		for _, d := range f.poll(t, keyA, startup).New {
			seen[d.Value]++
		}
	}
	collect(true)
	for polling := true; polling; {
		select {
		case <-done:
			polling = false
		default:
		}
		collect(false)
	}
	collect(false)
	if len(seen) != n {
		t.Fatalf("bouncer saw %d distinct decisions, want %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("decision %s sent %d times", v, c)
		}
	}
}

// TestHeadDoesNotMoveCursor: like CrowdSec, HEAD answers without a body and
// leaves the bouncer's stream cursor where it was.
func TestHeadDoesNotMoveCursor(t *testing.T) {
	f := newFixture(t)
	f.add(t, TypeBan, ScopeIP, "192.0.2.1", "s", time.Hour)
	for _, path := range []string{"/v1/decisions/stream", "/v1/decisions"} {
		req, err := http.NewRequest(http.MethodHead, f.server.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Api-Key", keyA)
		resp, err := f.server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD %s: status %d", path, resp.StatusCode)
		}
	}
	if got := f.poll(t, keyA, false).New; len(got) != 1 {
		t.Fatalf("after HEAD, the first poll got %d decisions, want 1", len(got))
	}
}
