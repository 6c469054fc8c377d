package scan

import (
	"errors"
	"slices"
	"testing"

	"github.com/kubeward/kubeward/internal/vulndb"
)

func ev(kind, v string) vulndb.Event {
	switch kind {
	case "i":
		return vulndb.Event{Introduced: v}
	case "f":
		return vulndb.Event{Fixed: v}
	case "la":
		return vulndb.Event{LastAffected: v}
	case "l":
		return vulndb.Event{Limit: v}
	}
	panic("bad event kind " + kind)
}

func rng(typ string, events ...vulndb.Event) vulndb.Range {
	return vulndb.Range{Type: typ, Events: events}
}

func TestAffects(t *testing.T) {
	eco := vulndb.RangeEcosystem
	sem := vulndb.RangeSemver
	tests := []struct {
		name      string
		ecosystem string
		ranges    []vulndb.Range
		versions  []string
		version   string
		want      bool
		wantFixed []string
	}{
		// Go: SEMVER ranges, versions with and without "v", pseudo-versions.
		{"go introduced 0 below fix", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "1.2.3"))}, nil, "v1.2.2", true, []string{"1.2.3"}},
		{"go at fix", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "1.2.3"))}, nil, "1.2.3", false, nil},
		{"go prerelease below fix", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "1.2.3"))}, nil, "1.2.3-rc.1", true, []string{"1.2.3"}},
		{"go pseudo-version below fix", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "0.0.0-20210428140749-89ef3d95e781"))}, nil, "v0.0.0-20190620200207-3b0461eec859", true, []string{"0.0.0-20210428140749-89ef3d95e781"}},
		{"go pseudo-version after fix", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "0.0.0-20210428140749-89ef3d95e781"))}, nil, "v0.0.0-20211209124913-491a49abca63", false, nil},
		{"go two intervals, in second", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "1.15.12"), ev("i", "1.16.0-0"), ev("f", "1.16.4"))}, nil, "1.16.3", true, []string{"1.16.4"}},
		{"go two intervals, in gap", "Go", []vulndb.Range{rng(sem, ev("i", "0"), ev("f", "1.15.12"), ev("i", "1.16.0-0"), ev("f", "1.16.4"))}, nil, "1.15.13", false, nil},
		{"go events unsorted", "Go", []vulndb.Range{rng(sem, ev("f", "1.16.4"), ev("i", "1.16.0-0"), ev("f", "1.15.12"), ev("i", "0"))}, nil, "1.16.3", true, []string{"1.16.4"}},
		{"go below introduced", "Go", []vulndb.Range{rng(sem, ev("i", "2.0.0"), ev("f", "2.1.0"))}, nil, "1.9.9", false, nil},
		{"go at introduced", "Go", []vulndb.Range{rng(sem, ev("i", "2.0.0"), ev("f", "2.1.0"))}, nil, "2.0.0", true, []string{"2.1.0"}},
		{"go introduced equals fixed is empty", "Go", []vulndb.Range{rng(sem, ev("i", "1.0.0"), ev("f", "1.0.0"))}, nil, "1.0.0", false, nil},
		{"adjacent intervals out of order", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "3.1.1"), ev("i", "3.2.0"), ev("f", "3.2.2"), ev("i", "3.1.1"), ev("f", "3.1.3"))}, nil, "3.1.1", true, []string{"3.1.3"}},
		{"adjacent intervals out of order, gap", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "3.1.1"), ev("i", "3.2.0"), ev("f", "3.2.2"), ev("i", "3.1.1"), ev("f", "3.1.3"))}, nil, "3.1.3", false, nil},
		{"overlapping intervals (PYSEC-2021-114)", "PyPI", []vulndb.Range{rng(eco, ev("i", "2.11"), ev("f", "2.11.7"), ev("i", "0"), ev("f", "2.11.6"), ev("i", "2.12"), ev("f", "2.12.4"))}, nil, "2.11.6", true, []string{"2.11.7"}},
		{"overlapping intervals, lowest fix", "PyPI", []vulndb.Range{rng(eco, ev("i", "2.11"), ev("f", "2.11.7"), ev("i", "0"), ev("f", "2.11.6"), ev("i", "2.12"), ev("f", "2.12.4"))}, nil, "2.11.2", true, []string{"2.11.6"}},
		{"go no fix yet", "Go", []vulndb.Range{rng(sem, ev("i", "0"))}, nil, "99.0.0", true, nil},

		// last_affected is inclusive; limit excludes versions at or above it.
		{"last_affected at", "npm", []vulndb.Range{rng(sem, ev("i", "1.0.0"), ev("la", "1.4.0"))}, nil, "1.4.0", true, nil},
		{"last_affected above", "npm", []vulndb.Range{rng(sem, ev("i", "1.0.0"), ev("la", "1.4.0"))}, nil, "1.4.1", false, nil},
		{"last_affected then later fix names no fix", "npm", []vulndb.Range{rng(sem, ev("i", "0"), ev("la", "1.0.0"), ev("i", "2.0.0"), ev("f", "2.5.0"))}, nil, "0.5.0", true, nil},
		{"limit below", "npm", []vulndb.Range{rng(sem, ev("i", "0"), ev("l", "2.0.0"))}, nil, "1.9.0", true, nil},
		{"limit at", "npm", []vulndb.Range{rng(sem, ev("i", "0"), ev("l", "2.0.0"))}, nil, "2.0.0", false, nil},
		{"limit star", "npm", []vulndb.Range{rng(sem, ev("i", "0"), ev("l", "*"))}, nil, "9.0.0", true, nil},

		// Multiple ranges: any one affecting is enough, every fix reported.
		{"multiple ranges", "crates.io", []vulndb.Range{
			rng(sem, ev("i", "0"), ev("f", "0.5.1")),
			rng(sem, ev("i", "0.6.0"), ev("f", "0.6.3")),
		}, nil, "0.6.2", true, []string{"0.6.3"}},
		{"multiple ranges none", "crates.io", []vulndb.Range{
			rng(sem, ev("i", "0"), ev("f", "0.5.1")),
			rng(sem, ev("i", "0.6.0"), ev("f", "0.6.3")),
		}, nil, "0.5.5", false, nil},
		{"overlapping ranges report both fixes", "npm", []vulndb.Range{
			rng(sem, ev("i", "0"), ev("f", "1.2.0")),
			rng(sem, ev("i", "1.0.0"), ev("f", "1.3.0")),
		}, nil, "1.1.0", true, []string{"1.2.0", "1.3.0"}},
		{"GIT ranges ignored", "npm", []vulndb.Range{rng(vulndb.RangeGit, ev("i", "0"), ev("f", "abcdef"))}, nil, "1.0.0", false, nil},

		// PyPI: PEP 440 ordering (pre-releases, post-releases, epochs).
		{"pypi below fix", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "2.0.10"))}, nil, "2.0.9", true, []string{"2.0.10"}},
		{"pypi 2.0.10 > 2.0.9 numerically", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "2.0.9"))}, nil, "2.0.10", false, nil},
		{"pypi pre-release before fix", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "5.2"))}, nil, "5.2b1", true, []string{"5.2"}},
		{"pypi post-release after fix", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1.0"))}, nil, "1.0.post1", false, nil},
		{"pypi 1.0 equals 1.0.0", "PyPI", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1.0.0"))}, nil, "1.0", false, nil},
		{"pypi versions list only", "PyPI", nil, []string{"1.0.1", "1.0.2"}, "1.0.2", true, nil},
		{"pypi versions list normalised", "PyPI", nil, []string{"1.0"}, "1.0.0", true, nil},
		{"unknown ecosystem literal versions list", "NoSuchEcosystem", nil, []string{"1.0"}, "1.0", true, nil},
		{"pypi versions list miss", "PyPI", nil, []string{"1.0.1", "1.0.2"}, "1.0.3", false, nil},

		// Alpine: apk ordering (-rN revisions, letters, _pre/_p suffixes).
		{"alpine revision below fix", "Alpine:v3.10", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1.1.1d-r0"))}, nil, "1.1.1c-r0", true, []string{"1.1.1d-r0"}},
		{"alpine newer revision", "Alpine:v3.10", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1.31.1-r9"))}, nil, "1.31.1-r10", false, nil},
		{"alpine at fix", "Alpine:v3.10", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "2.4.41-r0"))}, nil, "2.4.41-r0", false, nil},
		{"alpine _p suffix after base", "Alpine:v3.11", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "8.1_p1-r0"))}, nil, "8.1-r0", true, []string{"8.1_p1-r0"}},
		{"alpine _rc before release", "Alpine:v3.11", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1.0.0-r0"))}, nil, "1.0.0_rc7-r0", true, []string{"1.0.0-r0"}},

		// Debian ordering with epochs and tildes.
		{"debian epoch wins", "Debian:10", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1:1.0-1"))}, nil, "2.0-1", true, []string{"1:1.0-1"}},
		{"debian tilde before release", "Debian:10", []vulndb.Range{rng(eco, ev("i", "0"), ev("f", "1.0-1"))}, nil, "1.0~rc1-1", true, []string{"1.0-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			af := vulndb.Affected{
				Package:  vulndb.Package{Ecosystem: tt.ecosystem, Name: "p"},
				Ranges:   tt.ranges,
				Versions: tt.versions,
			}
			got, fixed, err := Affects(af, tt.version)
			if err != nil {
				t.Fatalf("Affects(%s) error: %v", tt.version, err)
			}
			if got != tt.want {
				t.Errorf("Affects(%s) = %v, want %v", tt.version, got, tt.want)
			}
			if !slices.Equal(fixed, tt.wantFixed) {
				t.Errorf("Affects(%s) fixed = %q, want %q", tt.version, fixed, tt.wantFixed)
			}
		})
	}
}

func TestAffectsUncomparable(t *testing.T) {
	tests := []struct {
		name    string
		af      vulndb.Affected
		version string
	}{
		{"unknown ecosystem", vulndb.Affected{
			Package: vulndb.Package{Ecosystem: "NoSuchEcosystem", Name: "p"},
			Ranges:  []vulndb.Range{rng(vulndb.RangeEcosystem, ev("i", "0"), ev("f", "1"))},
		}, "0.5"},
		{"unknown ecosystem with versions list", vulndb.Affected{
			Package:  vulndb.Package{Ecosystem: "NoSuchEcosystem", Name: "p"},
			Ranges:   []vulndb.Range{rng(vulndb.RangeEcosystem, ev("i", "0"), ev("f", "1"))},
			Versions: []string{"0.4"},
		}, "0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Affects(tt.af, tt.version)
			if got {
				t.Errorf("Affects = true for an uncomparable version; want false")
			}
			if !errors.Is(err, ErrUnsupportedVersion) {
				t.Errorf("err = %v, want ErrUnsupportedVersion", err)
			}
		})
	}
}
