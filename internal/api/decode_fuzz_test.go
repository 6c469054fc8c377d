package api

import (
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/auth"
)

// FuzzDecodeLogin checks that no request body makes login decoding panic,
// and that whatever it accepts has both fields within their bounds.
func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","password":"correct horse battery"}`,
		`{"username":"alice"}`,
		`{"username":"alice","password":"x","extra":1}`,
		`{"username":"a","password":"b"} {}`,
		`[]`, `null`, ``, `{`, `{"username":1,"password":true}`,
		`{"username":"\u0000","password":"\ud800"}`,
		`{"username":"` + strings.Repeat("a", 100) + `","password":"p"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeLogin(strings.NewReader(string(body)))
		if err != nil {
			return
		}
		if req.Username == "" || req.Password == "" || len(req.Username) > 64 || len(req.Password) > auth.MaxPasswordLen {
			t.Fatalf("accepted an invalid login request: %+v", req)
		}
	})
}
