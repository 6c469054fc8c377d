package vulndb

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeAdvisory(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		in      string
		wantErr bool
		check   func(t *testing.T, a *Advisory)
	}{
		{name: "json minimal", format: FormatJSON, in: `{"id":"GO-1","affected":[{"package":{"name":"m","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`,
			check: func(t *testing.T, a *Advisory) {
				if a.Affected[0].Ranges[0].Events[1].Fixed != "1.0.0" {
					t.Errorf("fixed = %+v", a.Affected[0].Ranges[0].Events)
				}
			}},
		{name: "json unknown fields ignored", format: FormatJSON, in: `{"id":"X-1","new_field":{"a":1}}`},
		{name: "json go placeholder modified", format: FormatJSON, in: `{"id":"GO-2","modified":"0001-01-01T00:00:00Z"}`,
			check: func(t *testing.T, a *Advisory) {
				if !a.ModifiedTime().IsZero() {
					t.Errorf("ModifiedTime = %v, want zero for the 0001 placeholder", a.ModifiedTime())
				}
			}},
		{name: "json withdrawn", format: FormatJSON, in: `{"id":"X-2","withdrawn":"2023-06-06T10:37:00Z"}`,
			check: func(t *testing.T, a *Advisory) {
				if !a.IsWithdrawn() {
					t.Error("IsWithdrawn = false")
				}
			}},
		{name: "yaml numeric scalars stay text", format: FormatYAML, in: "id: PYSEC-1\naffected:\n- package: {name: p, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.10\n  versions: [1.0, 1.9]\n",
			check: func(t *testing.T, a *Advisory) {
				ev := a.Affected[0].Ranges[0].Events
				if ev[0].Introduced != "0" || ev[1].Fixed != "1.10" {
					t.Errorf("events = %+v", ev)
				}
				if strings.Join(a.Affected[0].Versions, ",") != "1.0,1.9" {
					t.Errorf("versions = %q", a.Affected[0].Versions)
				}
			}},
		{name: "yaml non-string keys in database_specific", format: FormatYAML, in: "id: X-3\ndatabase_specific:\n  1: {2: [3, {4: .nan}]}\n",
			check: func(t *testing.T, a *Advisory) {
				if _, ok := a.DatabaseSpecific["1"]; !ok {
					t.Errorf("database_specific = %#v", a.DatabaseSpecific)
				}
			}},
		{name: "yaml unquoted timestamp", format: FormatYAML, in: "id: X-4\nmodified: 2021-07-15T02:22:07.728618Z\n",
			check: func(t *testing.T, a *Advisory) {
				if a.ModifiedTime().Year() != 2021 {
					t.Errorf("modified = %q", a.Modified)
				}
			}},
		{name: "missing id", format: FormatJSON, in: `{"summary":"x"}`, wantErr: true},
		{name: "bad modified", format: FormatJSON, in: `{"id":"X","modified":"yesterday"}`, wantErr: true},
		{name: "affected without package", format: FormatJSON, in: `{"id":"X","affected":[{"ranges":[]}]}`, wantErr: true},
		{name: "range without events", format: FormatJSON, in: `{"id":"X","affected":[{"package":{"name":"p","ecosystem":"npm"},"ranges":[{"type":"SEMVER","events":[]}]}]}`, wantErr: true},
		{name: "truncated json", format: FormatJSON, in: `{"id":"X",`, wantErr: true},
		{name: "yaml not a mapping", format: FormatYAML, in: "- a\n- b\n", wantErr: true},
		{name: "too large", format: FormatJSON, in: `{"id":"X","details":"` + strings.Repeat("a", MaxRecordBytes) + `"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := DecodeAdvisory([]byte(tt.in), tt.format)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("err = %v, want ErrInvalidRecord", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

func TestSecDBAdvisories(t *testing.T) {
	in := `
distroversion: v3.10
reponame: main
packages:
  - pkg:
      name: openssl
      secfixes:
        1.1.1d-r0:
          - CVE-2019-1547
        1.1.1a-r0:
          - CVE-2018-0734 CVE-2018-0735
          - CVE-2019-1547
        0:
          - CVE-2099-1
  - pkg:
      name: busybox
      secfixes:
        1.30.1-r3:
          - "not an id"
          - CVE-2019-5747 ZBX-1234
  - pkg:
      name: ""
      secfixes: {}
`
	db, err := DecodeSecDB([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	advs, skipped := db.Advisories()
	if skipped != 2 { // "not an id" and the nameless package
		t.Errorf("skipped = %d, want 2", skipped)
	}
	got := map[string]*Advisory{}
	var ids []string
	for _, a := range advs {
		got[a.ID] = a
		ids = append(ids, a.ID)
	}
	if want := "ALPINE-CVE-2018-0734 ALPINE-CVE-2019-1547 ALPINE-CVE-2019-5747"; strings.Join(ids, " ") != want {
		t.Fatalf("IDs = %q, want %q (fixed version 0 yields nothing)", ids, want)
	}
	if a := got["ALPINE-CVE-2018-0734"]; strings.Join(a.Aliases, " ") != "CVE-2018-0734 CVE-2018-0735" {
		t.Errorf("aliases = %q", a.Aliases)
	}
	// CVE-2019-1547 is listed under two fixed versions: both become
	// affected entries, and the lower fix closes the earlier interval.
	a := got["ALPINE-CVE-2019-1547"]
	if len(a.Affected) != 2 {
		t.Fatalf("affected = %+v", a.Affected)
	}
	for _, af := range a.Affected {
		if af.Package.Ecosystem != "Alpine:v3.10" || af.Package.Name != "openssl" {
			t.Errorf("package = %+v", af.Package)
		}
		if err := a.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestDecodeSecDBErrors(t *testing.T) {
	for _, in := range []string{
		"distroversion: 3.10\npackages: []\n",
		"packages: []\n",
		"distroversion: [v3.10]\n",
		"{{{",
	} {
		if _, err := DecodeSecDB([]byte(in)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("DecodeSecDB(%q) err = %v, want ErrInvalidRecord", in, err)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ eco, in, want string }{
		{"PyPI", "Django", "django"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Some__Weird-._name", "some-weird-name"},
		{"Go", "github.com/Azure/go-autorest", "github.com/Azure/go-autorest"},
		{"npm", "@Scope/Pkg", "@Scope/Pkg"},
		{"Alpine:v3.10", "py3-django", "py3-django"},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.eco, tt.in); got != tt.want {
			t.Errorf("NormalizeName(%s, %s) = %s, want %s", tt.eco, tt.in, got, tt.want)
		}
	}
}
