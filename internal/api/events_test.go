package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/detect/eventstore/eventtest"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// newEventsServer stores the real detection engine's detections of the
// recorded audit events in SQLite through the bus consumer, and serves
// the event routes over them. It returns the stored events.
func newEventsServer(t *testing.T) (*httptest.Server, []eventstore.Event) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "api.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	msgs := eventtest.RealMessages(t)
	if err := eventstore.NewHandler(st.Events(), nil)(context.Background(), msgs); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	var events []eventstore.Event
	seen := map[string]bool{}
	for _, m := range msgs {
		e, err := eventstore.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !seen[e.ID] {
			seen[e.ID] = true
			events = append(events, e)
		}
	}
	srv := httptest.NewServer((&Server{Store: st, InsecureNoAuth: true, ExtraRoutes: EventRoutes(st.Events(), nil)}).Handler())
	t.Cleanup(srv.Close)
	return srv, events
}

func TestEventRoutesFilter(t *testing.T) {
	srv, events := newEventsServer(t)
	// Pick filter values from the real events, so each query has
	// something to find.
	first := events[0]
	word := strings.ToUpper(strings.Fields(first.Output)[2])
	var ns, pod string
	for _, e := range events {
		if e.Pod != "" {
			ns, pod = e.Namespace, e.Pod
			break
		}
	}
	if pod == "" {
		t.Fatal("no real detection names a pod; the pod filter would go untested")
	}
	for _, q := range []url.Values{
		{},
		{"rule": {first.Rule}},
		{"priority": {"warning"}},
		{"priority": {"Critical"}},
		{"source": {"k8s_audit"}},
		{"source": {"syscall"}},
		{"q": {word}},
		{"namespace": {ns}},
		{"namespace": {ns}, "pod": {pod}},
		{"since": {first.Time.Format("2006-01-02T15:04:05.999999999Z07:00")}},
		{"until": {first.Time.Format("2006-01-02")}},
		{"limit": {"3"}, "offset": {"2"}},
		{"priority": {"notice"}, "limit": {"2"}},
	} {
		t.Run(q.Encode(), func(t *testing.T) {
			f, err := ParseEventFilter(q)
			if err != nil {
				t.Fatal(err)
			}
			var want []eventstore.Event
			for _, e := range events {
				if f.Match(e) {
					want = append(want, e)
				}
			}
			slices.SortFunc(want, eventstore.Newest)
			var got List[eventstore.Event]
			if code, ct := get(t, srv.URL+"/api/v1/events?"+q.Encode(), &got); code != http.StatusOK || ct != "application/json" {
				t.Fatalf("status %d, content type %q", code, ct)
			}
			if got.Total != len(want) || got.Limit != f.Limit || got.Offset != f.Offset || got.Items == nil {
				t.Errorf("total %d limit %d offset %d items nil %v; want total %d limit %d offset %d", got.Total, got.Limit, got.Offset, got.Items == nil, len(want), f.Limit, f.Offset)
			}
			want = want[min(f.Offset, len(want)):min(f.Offset+f.Limit, len(want))]
			var gotIDs, wantIDs []string
			for _, e := range got.Items {
				gotIDs = append(gotIDs, e.ID)
			}
			for _, e := range want {
				wantIDs = append(wantIDs, e.ID)
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Errorf("items\n got %v\nwant %v", gotIDs, wantIDs)
			}
		})
	}
}

func TestEventRoutesFalcoFormat(t *testing.T) {
	srv, events := newEventsServer(t)
	resp, err := http.Get(srv.URL + "/api/v1/events?format=falco&limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != FalcoContentType {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if n, _ := strconv.Atoi(resp.Header.Get("X-Total-Count")); n != len(events) {
		t.Errorf("X-Total-Count %q, want %d", resp.Header.Get("X-Total-Count"), len(events))
	}
	var got []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range events {
		// The lines are what the engine published, byte for byte.
		want = append(want, string(e.Raw))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("falco lines\n got %q\nwant %q", got, want)
	}
}

func TestEventRoutesBadRequests(t *testing.T) {
	srv, _ := newEventsServer(t)
	for _, q := range []string{
		"priority=loud",
		"since=yesterday",
		"until=2026-13-01",
		"since=2026-03-02&until=2026-03-01",
		"limit=0",
		"limit=1001",
		"offset=-1",
		"format=xml",
	} {
		t.Run(q, func(t *testing.T) {
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			code, ct := get(t, srv.URL+"/api/v1/events?"+q, &p)
			if code != http.StatusBadRequest || ct != "application/problem+json" || p.Status != http.StatusBadRequest || p.Detail == "" {
				t.Errorf("status %d %q, problem %+v; want a 400 problem", code, ct, p)
			}
		})
	}
}
