package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/alert/service"
)

// TestAlertListJSONMatchesEncodingJSON checks that the hand-written
// encoder of GET /api/v1/alerts writes exactly what encoding/json writes,
// for every optional field present and absent and for strings that need
// escaping.
func TestAlertListJSONMatchesEncodingJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	hostile := []string{
		"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "tab\tnew\nline\rcr\bbs\fff",
		"nul\x00and\x01\x1f", "invalid \xff\xfe utf8", "truncated \xe2\x82", "line\u2028para\u2029sep",
		"päth ☃ 日本 😀", "\x7f del",
	}
	var views []service.View
	for i, s := range hostile {
		a := alert.Alert{
			Labels:       alert.LabelSet{"alertname": "A" + s, "zeta": s, "alpha": "x", "key_" + string(rune('a'+i)): s},
			Severity:     alert.Severity(s),
			Source:       alert.SourceDetection,
			StartsAt:     t0.Add(time.Duration(i) * time.Second),
			GeneratorID:  s,
			GeneratorURL: "https://kubeward.example/" + s,
		}
		v := service.View{Alert: a, Fingerprint: a.Fingerprint().String(), State: service.StateFiring}
		switch i % 4 {
		case 0:
			v.Annotations = map[string]string{"summary": s, "description": "d"}
			v.EndsAt = t0.Add(time.Hour)
			v.State = service.StateResolved
		case 1:
			v.Annotations = map[string]string{} // empty: omitted
			v.UpdatedAt = t0.In(time.FixedZone("CEST", 2*3600))
			v.Ack = &alert.Ack{By: s, Comment: s, At: t0}
			v.SilencedBy = []string{"sil1", s}
			v.Inhibited = true
		case 2:
			v.Ack = &alert.Ack{By: "oscar", At: t0.Truncate(time.Second)}
			v.SilencedBy = []string{}
			v.Labels = nil
		}
		views = append(views, v)
	}
	tests := []struct {
		name string
		list List[service.View]
	}{
		{"empty", List[service.View]{Items: []service.View{}, Limit: 50}},
		{"one", List[service.View]{Items: views[:1], Total: 1, Limit: 1}},
		{"all", List[service.View]{Items: views, Total: 1234, Limit: 50, Offset: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tt.list); err != nil {
				t.Fatal(err)
			}
			got, ok := appendAlertList(nil, &tt.list)
			if !ok {
				t.Fatal("appendAlertList refused valid times")
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("appendAlertList wrote\n%s\nencoding/json writes\n%s", got, want.Bytes())
			}
			rec := httptest.NewRecorder()
			writeAlertList(rec, &tt.list)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || !bytes.Equal(rec.Body.Bytes(), want.Bytes()) {
				t.Fatalf("writeAlertList: status %d, type %q, body\n%s\nwant 200 application/json\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes(), want.Bytes())
			}
		})
	}
}

// TestAlertListJSONOutOfRangeTime checks that a time JSON cannot hold
// makes the fast encoder step aside.
func TestAlertListJSONOutOfRangeTime(t *testing.T) {
	a := alert.Alert{Labels: alert.LabelSet{"alertname": "A"}, StartsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	list := List[service.View]{Items: []service.View{{Alert: a}}}
	if _, ok := appendAlertList(nil, &list); ok {
		t.Fatal("appendAlertList accepted the year 10000, which RFC 3339 cannot hold")
	}
}

// TestAlertListJSONKnowsEveryField fails when a field is added to a
// struct the hand-written encoder writes: update appendView, appendAck
// and TestAlertListJSONMatchesEncodingJSON with it.
func TestAlertListJSONKnowsEveryField(t *testing.T) {
	for _, tt := range []struct {
		typ    reflect.Type
		fields int
	}{
		{reflect.TypeFor[List[service.View]](), 4},
		{reflect.TypeFor[service.View](), 5},
		{reflect.TypeFor[alert.Alert](), 10},
		{reflect.TypeFor[alert.Ack](), 3},
	} {
		if n := tt.typ.NumField(); n != tt.fields {
			t.Errorf("%s has %d fields, the alert list encoder writes %d: update alerts_json.go", tt.typ, n, tt.fields)
		}
	}
}
