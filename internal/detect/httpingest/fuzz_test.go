package httpingest_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kubeward/kubeward/internal/detect/httpingest"
)

// FuzzAuditWebhook posts arbitrary bodies to the audit webhook handler,
// which decodes them and evaluates all upstream k8saudit rules: it must
// answer 200 with a summary or a 4xx client error, never panic and never
// fail on its side (the bus here always accepts).
func FuzzAuditWebhook(f *testing.F) {
	f.Add([]byte(eventList(auditEvent(f, "privileged_pod_create"), auditEvent(f, "exec_pod"))))
	f.Add([]byte(`{"kind":"EventList","items":[{"auditID":"a"},"x",{"auditID":{"b":1},"user":[]}]}`))
	f.Add([]byte(`{"auditID":"a","stage":"ResponseComplete","requestObject":{"spec":{"containers":"x"}}}`))
	h := httpingest.NewAuditWebhook(pipeline(f, discard{}), slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/k8s-audit", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var sum httpingest.Summary
			if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil || sum.Events < 0 || sum.Rejected != len(sum.Errors) {
				t.Fatalf("summary %s: %v", rec.Body, err)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if rec.Body.Len() == 0 {
				t.Fatal("client error without a message")
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
