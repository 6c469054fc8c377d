package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert/alerttest"
	"github.com/kubeward/kubeward/internal/alert/notify"
	"github.com/kubeward/kubeward/internal/alert/notify/webhook"
)

func TestNotifyGoldenAndSignature(t *testing.T) {
	now := alerttest.Base.Add(15 * time.Minute)
	clock := alerttest.NewClock(now)
	srv := alerttest.NewRecorder(t, clock)
	n, err := webhook.New(webhook.Config{URL: srv.URL + "/kubeward", Secret: "s3cr3t"}, notify.Options{Clock: clock, ExternalURL: "https://kubeward.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := notify.WithGroup(context.Background(), notify.Group{Key: `{}:{namespace="payments"}`, Labels: map[string]string{"namespace": "payments"}})
	if retry, err := n.Notify(ctx, "hooks", `{}:{namespace="payments"}`, alerttest.SampleAlerts()); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	alerttest.GoldenJSON(t, filepath.Join("testdata", "firing.json"), req.Body)

	sig := req.Header.Get(webhook.SignatureHeader)
	// Recompute the documented scheme independently of Sign.
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte("s3cr3t"))
	m.Write([]byte(ts + "."))
	m.Write(req.Body)
	if want := "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Fatalf("signature header %q, want %q", sig, want)
	}
	if err := webhook.Verify("s3cr3t", sig, req.Body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("Verify of the sent request: %v", err)
	}
}

func TestVerify(t *testing.T) {
	now := alerttest.Base
	body := []byte(`{"version":"1"}`)
	good := webhook.Sign("key", now, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		want   string
	}{
		{"valid", "key", good, body, now, ""},
		{"valid with rotated second signature", "key", "t=" + strings.TrimPrefix(strings.Split(good, ",")[0], "t=") + ",v1=00ff," + strings.Split(good, ",")[1], body, now, ""},
		{"wrong secret", "other", good, body, now, "does not match"},
		{"tampered body", "key", good, []byte(`{"version":"2"}`), now, "does not match"},
		{"replayed too late", "key", good, body, now.Add(10 * time.Minute), "tolerance"},
		{"no timestamp", "key", "v1=abc", body, now, "lacks t="},
		{"bad timestamp", "key", "t=x,v1=abc", body, now, "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.header, tt.body, tt.at, 5*time.Minute)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Verify = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestUnsignedAndTruncated(t *testing.T) {
	clock := alerttest.NewClock(alerttest.Base)
	srv := alerttest.NewRecorder(t, clock)
	n, err := webhook.New(webhook.Config{URL: srv.URL, MaxAlerts: 1}, notify.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), "r", "g", alerttest.SampleAlerts()); err != nil {
		t.Fatal(err)
	}
	req := srv.Requests()[0]
	if h := req.Header.Get(webhook.SignatureHeader); h != "" {
		t.Fatalf("unsigned webhook sent signature %q", h)
	}
	if !strings.Contains(string(req.Body), `"truncatedAlerts":2`) || strings.Count(string(req.Body), `"fingerprint"`) != 1 {
		t.Fatalf("max_alerts 1 body: %s", req.Body)
	}
}

// FuzzVerify checks that Verify never panics on a hostile header and only
// accepts a header that carries the right signature.
func FuzzVerify(f *testing.F) {
	now := alerttest.Base
	body := []byte(`{"version":"1"}`)
	f.Add(webhook.Sign("key", now, body), body)
	f.Add("t=1,v1=", []byte{})
	f.Add("t=,v1=,v1=zz", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if err := webhook.Verify("key", header, body, now, 5*time.Minute); err != nil {
			return
		}
		ts := now.Unix()
		ok := false
		for d := int64(-300); d <= 300 && !ok; d++ {
			ok = strings.Contains(header, strings.TrimPrefix(webhook.Sign("key", time.Unix(ts+d, 0), body), "t="+strconv.FormatInt(ts+d, 10)+","))
		}
		if !ok {
			t.Fatalf("Verify accepted %q without the body's signature", header)
		}
	})
}
