package cluster_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/cluster"
)

// FuzzParseImageQuery checks that any text (the image filter of GET
// /api/v1/cluster/images) is parsed or refused without panicking, and that
// an accepted query's normalized form parses to the same query.
func FuzzParseImageQuery(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.27", "docker.io/library/nginx:1.27", "ghcr.io/org/app:v1@sha256:0f7a5d6c1c7e1d3b0d4b6bcd48b1b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2",
		"sha256:0f7a5d6c1c7e1d3b0d4b6bcd48b1b1f2a3c4d5e6f708192a3b4c5d6e7f8091a2", "localhost:5000/a/b", "UPPER:case", "", "@", "a@sha256:xyz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := cluster.ParseImageQuery(s)
		if err != nil {
			return
		}
		again, err := cluster.ParseImageQuery(q.String())
		if err != nil || again != q {
			t.Fatalf("%q parsed to %q, which parses to %q (%v)", s, q, again, err)
		}
	})
}
