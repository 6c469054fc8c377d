package alerttest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
)

// RunStorageContract checks that the storage returned by newStorage
// behaves as the alert.Storage documentation says. newStorage must return
// a new, empty storage each time it is called; it may register cleanups
// on t. A backend's test calls it:
//
//	func TestContract(t *testing.T) {
//		alerttest.RunStorageContract(t, func(t *testing.T) alert.Storage { return open(t) })
//	}
func RunStorageContract(t *testing.T, newStorage func(t *testing.T) alert.Storage) {
	t.Helper()
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()

	mkAlert := func(name string, start time.Time, end time.Time) alert.Alert {
		return alert.Alert{
			Labels:       alert.LabelSet{"alertname": name, "severity": "high", "source": "finding", "namespace": "prod"},
			Annotations:  map[string]string{"summary": name + " summary"},
			Severity:     alert.SeverityHigh,
			Source:       alert.SourceFinding,
			StartsAt:     start,
			EndsAt:       end,
			UpdatedAt:    start.Add(time.Second),
			GeneratorID:  "finding/" + name,
			GeneratorURL: "https://kubeward.example/findings/" + name,
		}
	}

	t.Run("alerts/put-get-replace", func(t *testing.T) {
		s := newStorage(t)
		a := mkAlert("A", base, time.Time{})
		if err := s.PutAlerts(ctx, []alert.Alert{a}); err != nil {
			t.Fatalf("PutAlerts: %v", err)
		}
		got, err := s.GetAlert(ctx, a.Fingerprint())
		if err != nil {
			t.Fatalf("GetAlert: %v", err)
		}
		assertAlert(t, got, a)
		// Replace: same labels, now resolved and acknowledged.
		b := a.Clone()
		b.EndsAt = base.Add(time.Hour)
		b.Annotations["summary"] = "changed"
		b.Ack = &alert.Ack{By: "alice", Comment: "looking", At: base.Add(time.Minute)}
		if err := s.PutAlerts(ctx, []alert.Alert{b}); err != nil {
			t.Fatalf("PutAlerts replace: %v", err)
		}
		got, err = s.GetAlert(ctx, a.Fingerprint())
		if err != nil {
			t.Fatalf("GetAlert after replace: %v", err)
		}
		assertAlert(t, got, b)
		// Mutating what was returned must not change the store.
		got.Labels["namespace"] = "mutated"
		again, err := s.GetAlert(ctx, a.Fingerprint())
		if err != nil {
			t.Fatal(err)
		}
		assertAlert(t, again, b)
	})

	t.Run("alerts/not-found", func(t *testing.T) {
		s := newStorage(t)
		_, err := s.GetAlert(ctx, 42)
		if !errors.Is(err, alert.ErrNotFound) {
			t.Fatalf("GetAlert of a missing alert: got %v, want ErrNotFound", err)
		}
	})

	t.Run("alerts/batch-last-wins-and-order", func(t *testing.T) {
		s := newStorage(t)
		var batch []alert.Alert
		for _, n := range []string{"c", "a", "b", "d", "e"} {
			batch = append(batch, mkAlert(n, base, time.Time{}))
		}
		last := mkAlert("a", base, base.Add(time.Minute))
		batch = append(batch, last)
		if err := s.PutAlerts(ctx, batch); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 5 {
			t.Fatalf("ListAlerts returned %d alerts, want 5", len(list))
		}
		for i := 1; i < len(list); i++ {
			if list[i-1].Fingerprint() >= list[i].Fingerprint() {
				t.Fatalf("ListAlerts not ordered by fingerprint at %d: %s >= %s", i, list[i-1].Fingerprint(), list[i].Fingerprint())
			}
		}
		got, err := s.GetAlert(ctx, last.Fingerprint())
		if err != nil {
			t.Fatal(err)
		}
		assertAlert(t, got, last)
	})

	t.Run("alerts/delete-resolved-before", func(t *testing.T) {
		s := newStorage(t)
		firing := mkAlert("firing", base, time.Time{})
		old := mkAlert("old", base, base.Add(time.Minute))
		edge := mkAlert("edge", base, base.Add(2*time.Minute))
		recent := mkAlert("recent", base, base.Add(3*time.Minute))
		if err := s.PutAlerts(ctx, []alert.Alert{firing, old, edge, recent}); err != nil {
			t.Fatal(err)
		}
		n, err := s.DeleteAlertsResolvedBefore(ctx, base.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("DeleteAlertsResolvedBefore deleted %d, want 1 (only the alert resolved strictly before)", n)
		}
		for _, a := range []alert.Alert{firing, edge, recent} {
			if _, err := s.GetAlert(ctx, a.Fingerprint()); err != nil {
				t.Fatalf("alert %s was deleted: %v", a.Name(), err)
			}
		}
		if _, err := s.GetAlert(ctx, old.Fingerprint()); !errors.Is(err, alert.ErrNotFound) {
			t.Fatalf("resolved alert still present: %v", err)
		}
	})

	mkSilence := func(id string, start, end time.Time) alert.Silence {
		return alert.Silence{
			ID:        id,
			Matchers:  []alert.Matcher{{Name: "namespace", Type: alert.MatchRegexp, Value: "prod-.*"}, {Name: "team", Type: alert.MatchNotEqual, Value: "qa"}},
			StartsAt:  start,
			EndsAt:    end,
			CreatedBy: "bob",
			Comment:   "maintenance",
			UpdatedAt: start,
		}
	}

	t.Run("silences/put-get-list-order", func(t *testing.T) {
		s := newStorage(t)
		s2 := mkSilence("b", base, base.Add(time.Hour))
		s1 := mkSilence("a", base, base.Add(time.Hour))
		s0 := mkSilence("z", base.Add(-time.Hour), base.Add(time.Hour))
		for _, sil := range []alert.Silence{s2, s1, s0} {
			if err := s.PutSilence(ctx, sil); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetSilence(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		assertSilence(t, got, s1)
		list, err := s.ListSilences(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, sil := range list {
			ids = append(ids, sil.ID)
		}
		if want := []string{"z", "a", "b"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("ListSilences order = %v, want %v (by StartsAt, then ID)", ids, want)
		}
		// Replace (expire) a silence.
		s1.EndsAt = base.Add(time.Minute)
		s1.UpdatedAt = base.Add(time.Minute)
		if err := s.PutSilence(ctx, s1); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetSilence(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		assertSilence(t, got, s1)
		if _, err := s.GetSilence(ctx, "missing"); !errors.Is(err, alert.ErrNotFound) {
			t.Fatalf("GetSilence of a missing silence: got %v, want ErrNotFound", err)
		}
	})

	t.Run("silences/delete-ended-before", func(t *testing.T) {
		s := newStorage(t)
		for _, sil := range []alert.Silence{
			mkSilence("old", base, base.Add(time.Minute)),
			mkSilence("edge", base, base.Add(2*time.Minute)),
			mkSilence("live", base, base.Add(time.Hour)),
		} {
			if err := s.PutSilence(ctx, sil); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteSilencesEndedBefore(ctx, base.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("DeleteSilencesEndedBefore deleted %d, want 1", n)
		}
		list, err := s.ListSilences(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("%d silences left, want 2", len(list))
		}
	})

	t.Run("alerts/concurrent-writers", func(t *testing.T) {
		s := newStorage(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					a := mkAlert(fmt.Sprintf("w%d-%d", w, i), base, time.Time{})
					if err := s.PutAlerts(ctx, []alert.Alert{a}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent PutAlerts: %v", err)
		}
		list, err := s.ListAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 160 {
			t.Fatalf("%d alerts after 160 concurrent puts", len(list))
		}
	})

	t.Run("nflog/empty-sets", func(t *testing.T) {
		s := newStorage(t)
		e := alert.NotificationEntry{Integration: "r/email/0", GroupKey: "g", AlertSetHash: alert.AlertSetHash(nil, nil), SentAt: base, ExpiresAt: base.Add(time.Hour)}
		if err := s.RecordNotification(ctx, e); err != nil {
			t.Fatal(err)
		}
		got, err := s.LastNotification(ctx, "r/email/0", "g")
		if err != nil {
			t.Fatal(err)
		}
		assertEntry(t, got, e)
	})

	t.Run("nflog/record-last-replace-prune", func(t *testing.T) {
		s := newStorage(t)
		if _, err := s.LastNotification(ctx, "r/slack/0", "g"); !errors.Is(err, alert.ErrNotFound) {
			t.Fatalf("LastNotification on an empty log: got %v, want ErrNotFound", err)
		}
		e := alert.NotificationEntry{
			Integration:    "r/slack/0",
			GroupKey:       `{}/{team="a"}:{alertname="X"}`,
			FiringAlerts:   []alert.Fingerprint{1, 2},
			ResolvedAlerts: []alert.Fingerprint{3},
			SentAt:         base,
			ExpiresAt:      base.Add(time.Hour),
		}
		e.AlertSetHash = alert.AlertSetHash(e.FiringAlerts, e.ResolvedAlerts)
		other := e
		other.Integration = "r/webhook/0"
		other.ExpiresAt = base.Add(3 * time.Hour)
		for _, x := range []alert.NotificationEntry{e, other} {
			if err := s.RecordNotification(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.LastNotification(ctx, e.Integration, e.GroupKey)
		if err != nil {
			t.Fatal(err)
		}
		assertEntry(t, got, e)
		e2 := e
		e2.FiringAlerts = []alert.Fingerprint{1}
		e2.ResolvedAlerts = []alert.Fingerprint{2, 3}
		e2.AlertSetHash = alert.AlertSetHash(e2.FiringAlerts, e2.ResolvedAlerts)
		e2.SentAt = base.Add(5 * time.Minute)
		e2.ExpiresAt = base.Add(2 * time.Hour)
		if err := s.RecordNotification(ctx, e2); err != nil {
			t.Fatal(err)
		}
		got, err = s.LastNotification(ctx, e.Integration, e.GroupKey)
		if err != nil {
			t.Fatal(err)
		}
		assertEntry(t, got, e2)
		n, err := s.PruneNotifications(ctx, base.Add(2*time.Hour+time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("PruneNotifications deleted %d, want 1", n)
		}
		if _, err := s.LastNotification(ctx, other.Integration, other.GroupKey); err != nil {
			t.Fatalf("unexpired entry was pruned: %v", err)
		}
	})

	runQueryContract(t, newStorage)
}

func assertAlert(t *testing.T, got, want alert.Alert) {
	t.Helper()
	if !got.StartsAt.Equal(want.StartsAt) || !got.EndsAt.Equal(want.EndsAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("alert times = %v..%v (updated %v), want %v..%v (updated %v)", got.StartsAt, got.EndsAt, got.UpdatedAt, want.StartsAt, want.EndsAt, want.UpdatedAt)
	}
	if (got.Ack == nil) != (want.Ack == nil) || (got.Ack != nil && (got.Ack.By != want.Ack.By || got.Ack.Comment != want.Ack.Comment || !got.Ack.At.Equal(want.Ack.At))) {
		t.Fatalf("alert ack = %+v, want %+v", got.Ack, want.Ack)
	}
	g, w := got, want
	g.StartsAt, g.EndsAt, g.UpdatedAt, g.Ack = time.Time{}, time.Time{}, time.Time{}, nil
	w.StartsAt, w.EndsAt, w.UpdatedAt, w.Ack = time.Time{}, time.Time{}, time.Time{}, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("alert = %+v, want %+v", got, want)
	}
}

func assertSilence(t *testing.T, got, want alert.Silence) {
	t.Helper()
	if !got.StartsAt.Equal(want.StartsAt) || !got.EndsAt.Equal(want.EndsAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("silence times = %v..%v, want %v..%v", got.StartsAt, got.EndsAt, want.StartsAt, want.EndsAt)
	}
	g, w := got, want
	g.StartsAt, g.EndsAt, g.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	w.StartsAt, w.EndsAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("silence = %+v, want %+v", got, want)
	}
}

func assertEntry(t *testing.T, got, want alert.NotificationEntry) {
	t.Helper()
	if !got.SentAt.Equal(want.SentAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("entry times = %v/%v, want %v/%v", got.SentAt, got.ExpiresAt, want.SentAt, want.ExpiresAt)
	}
	g, w := got, want
	g.SentAt, g.ExpiresAt, w.SentAt, w.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	// A backend may return an empty list as nil or as an empty slice.
	for _, e := range []*alert.NotificationEntry{&g, &w} {
		if len(e.FiringAlerts) == 0 {
			e.FiringAlerts = nil
		}
		if len(e.ResolvedAlerts) == 0 {
			e.ResolvedAlerts = nil
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("entry = %+v, want %+v", got, want)
	}
}
