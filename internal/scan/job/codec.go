package job

import (
	"encoding/json"
	"fmt"

	"github.com/kubeward/kubeward/internal/scan"
)

// DecodeFinding reads a finding encoded with encoding/json (as stores keep
// them).
func DecodeFinding(b []byte) (scan.Finding, error) {
	var f scan.Finding
	if err := json.Unmarshal(b, &f); err != nil {
		return scan.Finding{}, fmt.Errorf("decode finding: %w", err)
	}
	return f, nil
}

// DecodePackage reads a package encoded with encoding/json (as stores keep
// them).
func DecodePackage(b []byte) (scan.Package, error) {
	var p scan.Package
	err := json.Unmarshal(b, &p)
	return p, err
}

// DecodeItems decodes each stored row of a page with decode, for stores
// that keep packages and findings as JSON. The result is never nil, so an
// empty page encodes as [].
func DecodeItems[T any](raw [][]byte, decode func([]byte) (T, error)) ([]T, error) {
	out := make([]T, 0, len(raw))
	for _, b := range raw {
		v, err := decode(b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
