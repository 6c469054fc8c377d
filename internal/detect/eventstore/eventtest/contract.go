// Package eventtest holds the contract every eventstore.Store
// implementation must pass.
package eventtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/detect/eventstore"
	"github.com/kubeward/kubeward/internal/detect/rules"
)

// Base is the time of the first sample event; the others follow a minute
// apart.
var Base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// Samples returns n decoded Falco alerts whose rules, priorities, sources,
// namespaces, pods and outputs vary, so every filter selects some and not
// all of them. Times are Base plus i minutes.
func Samples(tb testing.TB, n int) []eventstore.Event {
	tb.Helper()
	ruleNames := []string{"Attach/Exec Pod", "Create Privileged Pod", "K8s Secret Get"}
	sources := []string{"k8s_audit", "syscall"}
	out := make([]eventstore.Event, 0, n)
	for i := range n {
		prio := rules.Priority(i % 8)
		fields := map[string]any{"evt.time": Base.Add(time.Duration(i) * time.Minute).UnixNano()}
		switch i % 3 {
		case 0:
			fields["ka.target.namespace"] = fmt.Sprintf("ns-%d", i%4)
		case 1:
			fields["k8s.ns.name"] = fmt.Sprintf("ns-%d", i%4)
			fields["k8s.pod.name"] = fmt.Sprintf("pod-%d", i%5)
		default:
			fields["k8s.ns.name"] = "<NA>"
		}
		// Wildcard characters must match literally in Text filters.
		output := fmt.Sprintf("%s %s Event %d user=admin_%d%% target=Pod-%d", Base.Format("15:04:05"), prio, i, i%2, i%5)
		b, err := json.Marshal(map[string]any{
			"hostname":      fmt.Sprintf("host-%d", i%2),
			"output":        output,
			"output_fields": fields,
			"priority":      prio.String(),
			"rule":          ruleNames[i%len(ruleNames)],
			"source":        sources[i%len(sources)],
			"tags":          []string{"k8s", fmt.Sprintf("T%d", i%3)},
			"time":          Base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano),
		})
		if err != nil {
			tb.Fatal(err)
		}
		e, err := eventstore.Decode(b)
		if err != nil {
			tb.Fatalf("sample %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// RunStoreContract checks a Store: newStore returns an empty one.
func RunStoreContract(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	ctx := context.Background()
	prio := func(p rules.Priority) *rules.Priority { return &p }
	samples := Samples(t, 60)

	t.Run("AddIsIdempotent", func(t *testing.T) {
		st := newStore(t)
		n, err := st.Add(ctx, samples[:40])
		if err != nil || n != 40 {
			t.Fatalf("Add 40 new: %d, %v", n, err)
		}
		n, err = st.Add(ctx, samples[30:])
		if err != nil || n != 20 {
			t.Fatalf("Add 10 known and 20 new: %d added, %v; want 20", n, err)
		}
		if n, err = st.Add(ctx, nil); err != nil || n != 0 {
			t.Fatalf("Add nothing: %d, %v", n, err)
		}
		p, err := st.List(ctx, eventstore.Filter{Limit: eventstore.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != len(samples) || len(p.Items) != len(samples) {
			t.Fatalf("total %d, %d items; want %d", p.Total, len(p.Items), len(samples))
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		st := newStore(t)
		if _, err := st.Add(ctx, samples); err != nil {
			t.Fatal(err)
		}
		p, err := st.List(ctx, eventstore.Filter{Limit: eventstore.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]eventstore.Event{}
		for _, e := range samples {
			byID[e.ID] = e
		}
		for _, got := range p.Items {
			want, ok := byID[got.ID]
			if !ok {
				t.Fatalf("listed unknown event %s", got.ID)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) || string(got.Raw) != string(want.Raw) || !got.Time.Equal(want.Time) {
				t.Errorf("event %s changed in store:\n got %s\nwant %s\n raw %s\nwant %s", got.ID, gj, wj, got.Raw, want.Raw)
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		st := newStore(t)
		if _, err := st.Add(ctx, samples); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    eventstore.Filter
		}{
			{"all", eventstore.Filter{}},
			{"rule", eventstore.Filter{Rule: "Create Privileged Pod"}},
			{"priority at least warning", eventstore.Filter{MinPriority: prio(rules.Warning)}},
			{"priority at least emergency", eventstore.Filter{MinPriority: prio(rules.Emergency)}},
			{"source", eventstore.Filter{Source: "syscall"}},
			{"since", eventstore.Filter{Since: Base.Add(45 * time.Minute)}},
			{"until", eventstore.Filter{Until: Base.Add(10 * time.Minute)}},
			{"since and until", eventstore.Filter{Since: Base.Add(10 * time.Minute), Until: Base.Add(20 * time.Minute)}},
			{"text case-insensitive", eventstore.Filter{Text: "EVENT 1"}},
			{"text with wildcard characters", eventstore.Filter{Text: "admin_1%"}},
			{"text underscore is literal", eventstore.Filter{Text: "admin_"}},
			{"text no match", eventstore.Filter{Text: "admin%1"}},
			{"namespace", eventstore.Filter{Namespace: "ns-1"}},
			{"pod", eventstore.Filter{Pod: "pod-2"}},
			{"combined", eventstore.Filter{Source: "k8s_audit", MinPriority: prio(rules.Notice), Namespace: "ns-0"}},
			{"page", eventstore.Filter{Limit: 7, Offset: 5}},
			{"page past the end", eventstore.Filter{Limit: 10, Offset: 100}},
			{"filtered page", eventstore.Filter{Rule: "K8s Secret Get", Limit: 3, Offset: 2}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := expected(t, samples, tc.f)
				got, err := st.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got.Total != want.Total {
					t.Errorf("total %d, want %d", got.Total, want.Total)
				}
				if got.Items == nil {
					t.Error("Items is nil; want an empty slice")
				}
				if g, w := ids(got.Items), ids(want.Items); !slices.Equal(g, w) {
					t.Errorf("items\n got %v\nwant %v", g, w)
				}
			})
		}
	})

	t.Run("FiltersSelect", func(t *testing.T) {
		// Guard against a vacuous oracle: each filter above must select
		// some events and not all of them.
		for _, f := range []eventstore.Filter{
			{Rule: "Create Privileged Pod"}, {MinPriority: prio(rules.Warning)}, {Source: "syscall"},
			{Since: Base.Add(45 * time.Minute)}, {Text: "EVENT 1"}, {Text: "admin_1%"}, {Namespace: "ns-1"}, {Pod: "pod-2"},
		} {
			n := expected(t, samples, f).Total
			if n == 0 || n == len(samples) {
				t.Errorf("filter %+v selects %d of %d samples", f, n, len(samples))
			}
		}
	})

	t.Run("InvalidFilter", func(t *testing.T) {
		st := newStore(t)
		for _, f := range []eventstore.Filter{
			{Limit: eventstore.MaxLimit + 1}, {Limit: -1}, {Offset: -1},
			{Since: Base, Until: Base}, {MinPriority: prio(rules.Priority(9))},
		} {
			if _, err := st.List(ctx, f); err == nil {
				t.Errorf("List(%+v) succeeded; want an error", f)
			}
		}
	})

	t.Run("Prune", func(t *testing.T) {
		st := newStore(t)
		if _, err := st.Add(ctx, samples); err != nil {
			t.Fatal(err)
		}
		cut := Base.Add(25 * time.Minute)
		n, err := st.Prune(ctx, cut)
		if err != nil || n != 25 {
			t.Fatalf("Prune before minute 25: %d, %v; want 25", n, err)
		}
		p, err := st.List(ctx, eventstore.Filter{Limit: eventstore.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != len(samples)-25 {
			t.Fatalf("after prune: %d events, want %d", p.Total, len(samples)-25)
		}
		for _, e := range p.Items {
			if e.Time.Before(cut) {
				t.Errorf("event at %s survived a prune before %s", e.Time, cut)
			}
		}
		if n, err := st.Prune(ctx, cut); err != nil || n != 0 {
			t.Errorf("second prune: %d, %v; want 0", n, err)
		}
	})
}

// expected computes List's answer over events by brute force.
func expected(t *testing.T, events []eventstore.Event, f eventstore.Filter) eventstore.Page {
	t.Helper()
	f, err := f.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	var m []eventstore.Event
	for _, e := range events {
		if f.Match(e) {
			m = append(m, e)
		}
	}
	slices.SortFunc(m, eventstore.Newest)
	p := eventstore.Page{Total: len(m), Items: []eventstore.Event{}}
	if f.Offset < len(m) {
		p.Items = m[f.Offset:min(len(m), f.Offset+f.Limit)]
	}
	return p
}

func ids(es []eventstore.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
