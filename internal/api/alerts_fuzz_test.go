package api_test

import (
	"net/url"
	"testing"

	"github.com/kubeward/kubeward/internal/alert"
	"github.com/kubeward/kubeward/internal/api"
)

// FuzzParseAlertFilter checks that no query string makes the alert filter
// parser panic, and that what it accepts is a valid filter.
func FuzzParseAlertFilter(f *testing.F) {
	f.Add(`state=firing&severity=critical,high&source=detection&filter=alertname%3D%22X%22&limit=10&offset=5`)
	f.Add(`filter=namespace%3D~%22prod-.*%22&filter=team!%3Dqa&muted=true&acknowledged=0`)
	f.Add(`filter=a%3D~%22(%22&limit=99999`)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := api.ParseAlertFilter(v)
		if err != nil {
			return
		}
		if _, err := alert.CompileMatchers(flt.Matchers); err != nil {
			t.Fatalf("accepted invalid matchers %v: %v", flt.Matchers, err)
		}
		if flt.Limit < 1 || flt.Limit > 1000 || flt.Offset < 0 {
			t.Fatalf("accepted limit %d offset %d", flt.Limit, flt.Offset)
		}
		for _, s := range flt.Severities {
			if !s.Valid() {
				t.Fatalf("accepted severity %q", s)
			}
		}
		for _, s := range flt.Sources {
			if !s.Valid() {
				t.Fatalf("accepted source %q", s)
			}
		}
	})
}
