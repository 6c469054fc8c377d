package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// AlertSetHash returns the hex SHA-256 over the number of firing
// fingerprints, the firing fingerprints, then the resolved fingerprints,
// each list sorted ascending and every number written as 8 big-endian
// bytes. It does not modify its arguments.
func AlertSetHash(firing, resolved []Fingerprint) string {
	h := sha256.New()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(len(firing)))
	h.Write(buf[:])
	for _, set := range [][]Fingerprint{firing, resolved} {
		sorted := slices.Clone(set)
		slices.Sort(sorted)
		for _, fp := range sorted {
			binary.BigEndian.PutUint64(buf[:], uint64(fp))
			h.Write(buf[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
