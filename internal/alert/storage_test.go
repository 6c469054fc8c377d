package alert_test

import (
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/kubeward/kubeward/internal/alert"
)

func TestDecodeStoredMap(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"null", `null`, nil, false},
		{"empty", `{}`, map[string]string{}, false},
		{"labels", `{"alertname":"A","namespace":"prod"}`, map[string]string{"alertname": "A", "namespace": "prod"}, false},
		{"escapes", `{"cmd":"a\u0000b \"q\" \\ \n \u003c\u0026\u003e \ufffd \u2028","k\u00e9y":"päth ☃"}`,
			map[string]string{"cmd": "a\x00b \"q\" \\ \n <&> \ufffd \u2028", "kéy": "päth ☃"}, false},
		{"duplicate-last-wins", `{"a":"1","a":"2"}`, map[string]string{"a": "2"}, false},
		{"whitespace", " {\n\t\"a\" : \"1\" } ", map[string]string{"a": "1"}, false},
		{"number", `{"a":1}`, nil, true},
		{"nested", `{"a":{"b":"c"}}`, nil, true},
		{"array", `["a"]`, nil, true},
		{"string", `"a"`, nil, true},
		{"truncated", `{"a":"1"`, nil, true},
		{"trailing", `{"a":"1"} x`, nil, true},
		{"empty-input", ``, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := alert.DecodeStoredMap([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("DecodeStoredMap(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && (!maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil)) {
				t.Fatalf("DecodeStoredMap(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

var surrogate = regexp.MustCompile(`(?i)\\ud[89a-f]`)

// FuzzDecodeStoredMap checks DecodeStoredMap against encoding/json: on
// what encoding/json writes for a map (what stores keep) they decode the
// same map; on any input DecodeStoredMap never panics, and decodes what
// encoding/json decodes the same way (it is more lenient: it accepts
// some invalid escapes, which encoding/json never writes).
func FuzzDecodeStoredMap(f *testing.F) {
	f.Add("alertname", "A", "cmd", "a\x00b \"q\" <&> \u2028 \xff", []byte(`{"a":"1"}`))
	f.Add("k", "", "k", "v", []byte(`{"a":"\u00e9\ud83d\ude00"}`))
	f.Add("", "\t\n", "x_y", "日本", []byte(`null`))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, raw []byte) {
		stored, err := json.Marshal(map[string]string{k1: v1, k2: v2})
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]string
		if err := json.Unmarshal(stored, &want); err != nil {
			t.Fatal(err)
		}
		got, err := alert.DecodeStoredMap(stored)
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("DecodeStoredMap(%s) = %q, %v; want %q", stored, got, err, want)
		}
		// Any input: no panic, and the same map as encoding/json wherever
		// encoding/json accepts it, except for what encoding/json repairs
		// (invalid UTF-8, escaped lone surrogates), which it never writes.
		got, err = alert.DecodeStoredMap(raw)
		var m map[string]string
		if json.Unmarshal(raw, &m) == nil && utf8.Valid(raw) && !surrogate.Match(raw) {
			if err != nil || !maps.Equal(got, m) || (got == nil) != (m == nil) {
				t.Fatalf("DecodeStoredMap(%q) = %q, %v; encoding/json decodes %q", raw, got, err, m)
			}
		}
	})
}

func TestAlertQueryPlan(t *testing.T) {
	yes := true
	eq := alert.Matcher{Name: "namespace", Type: alert.MatchEqual, Value: "prod"}
	ne := alert.Matcher{Name: "team", Type: alert.MatchNotEqual, Value: "qa"}
	re := alert.Matcher{Name: "pod", Type: alert.MatchRegexp, Value: "web-.*"}
	tests := []struct {
		name       string
		q          alert.AlertQuery
		wantPushed int
		wantInGo   bool
		wantErr    bool
	}{
		{"empty", alert.AlertQuery{}, 0, false, false},
		{"equality pushed", alert.AlertQuery{Matchers: []alert.Matcher{eq, ne}}, 2, false, false},
		{"regexp in Go", alert.AlertQuery{Matchers: []alert.Matcher{eq, re}}, 1, true, false},
		{"keep in Go", alert.AlertQuery{Keep: func(*alert.Alert) bool { return true }}, 0, true, false},
		{"firing needs now", alert.AlertQuery{Firing: &yes}, 0, false, true},
		{"negative limit", alert.AlertQuery{Limit: -1}, 0, false, true},
		{"bad regexp", alert.AlertQuery{Matchers: []alert.Matcher{{Name: "pod", Type: alert.MatchRegexp, Value: "("}}}, 0, false, true},
		{"bad severity", alert.AlertQuery{Severities: []alert.Severity{"urgent"}}, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.q.Plan()
			if tt.wantErr {
				if !errors.Is(err, alert.ErrInvalidQuery) {
					t.Fatalf("Plan() error = %v, want one wrapping ErrInvalidQuery", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Pushed) != tt.wantPushed || p.InGo() != tt.wantInGo {
				t.Fatalf("Plan() pushed %v, InGo %v; want %d pushed, InGo %v", p.Pushed, p.InGo(), tt.wantPushed, tt.wantInGo)
			}
		})
	}
}

func TestAlertPager(t *testing.T) {
	q := alert.AlertQuery{Limit: 2, Offset: 3}
	p, err := q.Plan()
	if err != nil {
		t.Fatal(err)
	}
	pg := p.Pager()
	for i := range 7 {
		a := alert.Alert{Labels: alert.LabelSet{"i": string(rune('0' + i))}}
		if pg.InPage() {
			pg.Add(a)
		} else {
			pg.Count()
		}
	}
	page, total := pg.Result()
	if total != 7 || len(page) != 2 || page[0].Labels["i"] != "3" || page[1].Labels["i"] != "4" {
		t.Fatalf("pager kept %v of %d, want alerts 3 and 4 of 7", page, total)
	}
}
