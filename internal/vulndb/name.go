package vulndb

import (
	"regexp"
	"strings"
)

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// NormalizeName returns the form of a package name under which the
// database indexes it: PyPI names are normalised per PEP 503 (lower case,
// runs of "-", "_" and "." become "-"); other ecosystems compare names
// exactly. Both the importer and lookups use it.
func NormalizeName(ecosystem, name string) string {
	if baseEcosystem(ecosystem) == "PyPI" {
		return pypiSeparators.ReplaceAllString(strings.ToLower(name), "-")
	}
	return name
}

// baseEcosystem strips the ":suffix" of an ecosystem such as "Alpine:v3.10".
func baseEcosystem(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}
