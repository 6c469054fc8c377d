package condition

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// containsFold reports whether sub occurs in s, ignoring ASCII and Unicode
// simple case, without allocating.
func containsFold(s, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// globMatch matches s against a shell pattern: '*' matches any run of
// bytes (including '/'), '?' one character, '[...]' a class ('!' or '^'
// negates, ranges with '-'), '\' escapes. This is fnmatch(3) without
// FNM_PATHNAME, as libsinsp's glob operator behaves.
func globMatch(pattern string, s []byte, fold bool) bool {
	if fold {
		pattern = strings.ToLower(pattern)
		s = bytes.ToLower(s)
	}
	str := string(s)
	// Iterative matcher with single-star backtracking.
	px, sx := 0, 0
	starP, starS := -1, -1
	for sx < len(str) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(str[sx:])
				px++
				sx += w
				continue
			case '[':
				r, w := utf8.DecodeRuneInString(str[sx:])
				if ok, next := matchClass(pattern, px, r); next > 0 {
					if ok {
						px = next
						sx += w
						continue
					}
				} else if str[sx] == '[' {
					px++
					sx++
					continue
				}
			case '\\':
				if px+1 < len(pattern) && pattern[px+1] == str[sx] {
					px += 2
					sx++
					continue
				}
			default:
				if c == str[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// matchClass matches r against the class starting at pattern[i] == '['.
// It returns the index after the class, or 0 when the class is not closed.
func matchClass(pattern string, i int, r rune) (bool, int) {
	j := i + 1
	neg := false
	if j < len(pattern) && (pattern[j] == '!' || pattern[j] == '^') {
		neg = true
		j++
	}
	matched := false
	first := true
	for j < len(pattern) {
		if pattern[j] == ']' && !first {
			return matched != neg, j + 1
		}
		first = false
		lo, w := utf8.DecodeRuneInString(pattern[j:])
		j += w
		hi := lo
		if j+1 < len(pattern) && pattern[j] == '-' && pattern[j+1] != ']' {
			hi, w = utf8.DecodeRuneInString(pattern[j+1:])
			j += 1 + w
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	return false, 0
}

// pathMatcher implements pmatch: a value matches when one of the paths is
// equal to it or is one of its parent directories, compared component by
// component ("/etc" matches "/etc/passwd" but not "/etcd"). A "*"
// component matches any one component.
type pathMatcher struct {
	paths [][]string
}

func splitPath(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func newPathMatcher(paths []string) *pathMatcher {
	pm := &pathMatcher{}
	for _, p := range paths {
		pm.paths = append(pm.paths, splitPath(p))
	}
	return pm
}

func (pm *pathMatcher) match(v []byte) bool {
	comps := splitPath(string(v))
	for _, p := range pm.paths {
		if len(p) > len(comps) {
			continue
		}
		ok := true
		for i, c := range p {
			if c != "*" && c != comps[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
