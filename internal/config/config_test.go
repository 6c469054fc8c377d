package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func newFlags(t *testing.T) (*pflag.FlagSet, *string, *int, *[]string) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	db := fs.String("db", "default-db", "")
	n := fs.Int("cve-feed-interval-minutes", 60, "")
	list := fs.StringSlice("admission-dns-names", nil, "")
	return fs, db, n, list
}

func TestPrecedence(t *testing.T) {
	file, err := ParseFile([]byte("db: from-file\ncve:\n  feed-interval-minutes: 15\nadmission-dns-names: [a.svc, b.svc]\nunknown-key: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantDB  string
		wantMin int
	}{
		{"file over default", nil, nil, "from-file", 15},
		{"env over file", nil, map[string]string{"KUBEWARD_DB": "from-env", "KUBEWARD_CVE_FEED_INTERVAL_MINUTES": "5"}, "from-env", 5},
		{"flag over env", []string{"--db", "from-flag"}, map[string]string{"KUBEWARD_DB": "from-env"}, "from-flag", 15},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, db, n, list := newFlags(t)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			env = tc.env
			unknown, err := Apply(fs, file, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if *db != tc.wantDB || *n != tc.wantMin {
				t.Fatalf("db %q interval %d, want %q %d", *db, *n, tc.wantDB, tc.wantMin)
			}
			if strings.Join(*list, ",") != "a.svc,b.svc" {
				t.Fatalf("list from file: %v", *list)
			}
			if len(unknown) != 1 || unknown[0] != "unknown-key" {
				t.Fatalf("unknown keys %v", unknown)
			}
		})
	}
}

func TestBadValuesNameTheirSource(t *testing.T) {
	fs, _, _, _ := newFlags(t)
	_, err := Apply(fs, File{"cve-feed-interval-minutes": "soon"}, func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), `config file key "cve-feed-interval-minutes"`) {
		t.Fatalf("bad file value: %v", err)
	}
	fs, _, _, _ = newFlags(t)
	_, err = Apply(fs, nil, func(k string) (string, bool) { return "x", k == "KUBEWARD_CVE_FEED_INTERVAL_MINUTES" })
	if err == nil || !strings.Contains(err.Error(), "KUBEWARD_CVE_FEED_INTERVAL_MINUTES") {
		t.Fatalf("bad env value: %v", err)
	}
	if _, err := ParseFile([]byte("db: [unclosed")); err == nil {
		t.Fatal("invalid YAML accepted")
	}
	if _, err := ParseFile([]byte("db:\n  - {nested: map}\n")); err == nil {
		t.Fatal("a list of maps accepted")
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("cve-feed-url"); got != "KUBEWARD_CVE_FEED_URL" {
		t.Fatal(got)
	}
}
