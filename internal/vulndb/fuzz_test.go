package vulndb

import (
	"testing"
)

// FuzzDecodeAdvisory feeds arbitrary bytes to the OSV JSON and YAML
// decoders: they must return a record or an error, never panic, and every
// accepted record must survive Validate and the storage encoding.
func FuzzDecodeAdvisory(f *testing.F) {
	f.Add([]byte(`{"id":"GO-1","modified":"0001-01-01T00:00:00Z","affected":[{"package":{"name":"m","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`), true)
	f.Add([]byte("id: PYSEC-1\naffected:\n- package: {name: p, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.10\n"), false)
	f.Add([]byte("id: X\ndatabase_specific: {1: .nan, 2: [!!binary aGVsbG8=]}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		format := FormatYAML
		if isJSON {
			format = FormatJSON
		}
		a, err := DecodeAdvisory(data, format)
		if err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted record fails Validate: %v", err)
		}
		a.ModifiedTime()
		if _, err := encodeRecord(a); err != nil {
			t.Fatalf("accepted record cannot be stored: %v", err)
		}
	})
}

// FuzzDecodeSecDB feeds arbitrary bytes to the Alpine secdb reader and
// converts whatever it accepts to OSV records, which must be valid.
func FuzzDecodeSecDB(f *testing.F) {
	f.Add([]byte("distroversion: v3.10\nreponame: main\npackages:\n  - pkg:\n      name: openssl\n      secfixes:\n        1.1.1d-r0:\n          - CVE-2019-1547 TALOS-1\n        0:\n          - CVE-1\n"))
	f.Add([]byte("distroversion: v3.3\npackages: [{pkg: {name: a, secfixes: {1: [x]}}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := DecodeSecDB(data)
		if err != nil {
			return
		}
		advs, _ := db.Advisories()
		for _, a := range advs {
			if err := a.Validate(); err != nil {
				t.Fatalf("secdb produced an invalid record: %v", err)
			}
		}
	})
}
