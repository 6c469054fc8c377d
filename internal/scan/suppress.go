package scan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
)

// ErrMalformedSuppressions is wrapped by every error about the content of
// a VEX document or an ignore file.
var ErrMalformedSuppressions = errors.New("malformed suppression file")

// MaxSuppressionFile is the largest VEX document or ignore file accepted,
// in bytes.
const MaxSuppressionFile = 16 << 20

// Suppression says why a finding is not reported as open.
type Suppression struct {
	// Source is the file the decision came from.
	Source string `json:"source"`
	// Status is the VEX status ("not_affected", "fixed"); empty for an
	// ignore-file entry.
	Status string `json:"status,omitempty"`
	// Justification is the VEX justification, if any.
	Justification string `json:"justification,omitempty"`
	// Statement is the VEX impact statement or the ignore-file comment.
	Statement string `json:"statement,omitempty"`
}

// Suppressor decides whether a finding is suppressed.
type Suppressor interface {
	// Suppress returns the reason f is suppressed, or false.
	Suppress(f Finding) (Suppression, bool)
}

// ApplySuppressions splits findings into those still open and those a
// suppressor suppresses (with Finding.Suppression set), keeping order. The
// first suppressor that suppresses a finding gives the reason.
func ApplySuppressions(findings []Finding, ss ...Suppressor) (open, suppressed []Finding) {
	for _, f := range findings {
		hit := false
		for _, s := range ss {
			if why, ok := s.Suppress(f); ok {
				f.Suppression = &why
				suppressed = append(suppressed, f)
				hit = true
				break
			}
		}
		if !hit {
			open = append(open, f)
		}
	}
	return open, suppressed
}

// VEX suppresses findings that an OpenVEX document declares not_affected
// or fixed.
type VEX struct {
	doc    *vex.VEX
	source string
}

// ParseVEX reads an OpenVEX JSON document; source names it in
// suppressions. Every statement must be valid (a vulnerability, a status,
// and the justification or impact statement not_affected requires).
func ParseVEX(r io.Reader, source string) (*VEX, error) {
	data, err := readBounded(r, source)
	if err != nil {
		return nil, err
	}
	doc, err := vex.Parse(data)
	if err != nil {
		suppressionErrors.WithLabelValues("vex").Inc()
		return nil, fmt.Errorf("%w: %s: not an OpenVEX JSON document: %w", ErrMalformedSuppressions, source, err)
	}
	for i := range doc.Statements {
		if err := doc.Statements[i].Validate(); err != nil {
			suppressionErrors.WithLabelValues("vex").Inc()
			return nil, fmt.Errorf("%w: %s: statement %d: %w", ErrMalformedSuppressions, source, i, err)
		}
	}
	var ts time.Time
	if doc.Timestamp != nil {
		ts = *doc.Timestamp
	}
	vex.SortStatements(doc.Statements, ts)
	return &VEX{doc: doc, source: source}, nil
}

// Suppress implements Suppressor. The latest statement (by timestamp) that
// names one of the finding's IDs (advisory ID or aliases, matched against
// the statement's vulnerability name, @id and aliases) and identifies the
// package by purl — as a product, or as a subcomponent of any product —
// decides: not_affected and fixed suppress; affected and
// under_investigation keep the finding open.
func (v *VEX) Suppress(f Finding) (Suppression, bool) {
	if f.Package.PURL == "" {
		return Suppression{}, false
	}
	ids := append([]string{f.AdvisoryID}, f.Aliases...)
	purls := purlSpellings(f.Package.PURL)
	for i := len(v.doc.Statements) - 1; i >= 0; i-- {
		st := &v.doc.Statements[i]
		if !slices.ContainsFunc(ids, st.Vulnerability.Matches) || !slices.ContainsFunc(purls, func(p string) bool { return namesPackage(st, p) }) {
			continue
		}
		if st.Status != vex.StatusNotAffected && st.Status != vex.StatusFixed {
			return Suppression{}, false
		}
		return Suppression{Source: v.source, Status: string(st.Status), Justification: string(st.Justification), Statement: st.ImpactStatement}, true
	}
	return Suppression{}, false
}

// purlSpellings returns purl and, for a Go module, the same purl with the
// version's "v" prefix toggled: osv-scalibr writes pkg:golang/m@1.2.3, most
// SBOM and VEX tools pkg:golang/m@v1.2.3.
func purlSpellings(purl string) []string {
	out := []string{purl}
	if rest, ok := strings.CutPrefix(purl, "pkg:golang/"); ok {
		if name, version, ok := strings.Cut(rest, "@"); ok {
			if trimmed, had := strings.CutPrefix(version, "v"); had {
				out = append(out, "pkg:golang/"+name+"@"+trimmed)
			} else {
				out = append(out, "pkg:golang/"+name+"@v"+version)
			}
		}
	}
	return out
}

// namesPackage reports whether a statement's products or their
// subcomponents identify the package purl.
func namesPackage(st *vex.Statement, purl string) bool {
	for i := range st.Products {
		p := &st.Products[i]
		if len(p.Subcomponents) == 0 && p.Component.Matches(purl) {
			return true
		}
		for j := range p.Subcomponents {
			if p.Subcomponents[j].Matches(purl) {
				return true
			}
		}
	}
	return false
}

// IgnoreList suppresses findings by advisory ID or alias, one ID per line
// ("CVE-2023-1234", "GHSA-xxxx-xxxx-xxxx  # reason"), as .trivyignore
// files write them. Blank lines and lines starting with # are skipped.
type IgnoreList struct {
	source string
	ids    map[string]string // ID → comment
}

var advisoryIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// ParseIgnoreFile reads an ignore list; source names it in suppressions.
func ParseIgnoreFile(r io.Reader, source string) (*IgnoreList, error) {
	data, err := readBounded(r, source)
	if err != nil {
		return nil, err
	}
	l := &IgnoreList{source: source, ids: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxSuppressionFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, comment, _ := strings.Cut(line, "#")
		id = strings.TrimSpace(id)
		if !advisoryIDPattern.MatchString(id) {
			suppressionErrors.WithLabelValues("ignore").Inc()
			return nil, fmt.Errorf("%w: %s:%d: %q is not an advisory ID (want one ID per line, e.g. CVE-2024-1234, optionally followed by # reason)", ErrMalformedSuppressions, source, n, id)
		}
		l.ids[id] = strings.TrimSpace(comment)
	}
	if err := sc.Err(); err != nil {
		suppressionErrors.WithLabelValues("ignore").Inc()
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedSuppressions, source, err)
	}
	return l, nil
}

// Suppress implements Suppressor.
func (l *IgnoreList) Suppress(f Finding) (Suppression, bool) {
	for _, id := range append([]string{f.AdvisoryID}, f.Aliases...) {
		if comment, ok := l.ids[id]; ok {
			return Suppression{Source: l.source, Statement: comment}, true
		}
	}
	return Suppression{}, false
}

func readBounded(r io.Reader, source string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSuppressionFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	if len(data) > MaxSuppressionFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformedSuppressions, source, MaxSuppressionFile)
	}
	return data, nil
}
