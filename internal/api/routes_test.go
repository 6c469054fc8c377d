package api

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateRoles = flag.Bool("update-roles", false, "rewrite testdata/route-roles.golden")

// TestRouteRolesGolden pins every route's least role (the declared ones
// and the alert and response routes serve mounts as ExtraRoutes), so that
// loosening a route's role shows up in review as a golden file change.
// Run `go test ./internal/api -run TestRouteRolesGolden -update-roles` after an
// intended change.
func TestRouteRolesGolden(t *testing.T) {
	s := &Server{ExtraRoutes: slices.Concat(AlertRoutes(nil, nil), RespondRoutes(RespondDeps{}), EventRoutes(nil, nil), ScanRoutes(ScanDeps{}), ClusterVulnRoutes(ClusterVulnDeps{}))}
	var b strings.Builder
	for _, rt := range s.Routes() {
		fmt.Fprintf(&b, "%-7s %-40s %s\n", rt.Method, rt.Path, rt.Role)
	}
	golden := filepath.Join("testdata", "route-roles.golden")
	if *updateRoles {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read %s (create it with -update-roles): %v", golden, err)
	}
	if b.String() != string(want) {
		t.Errorf("route roles changed; review and run with -update-roles.\ngot:\n%s\nwant:\n%s", b.String(), want)
	}
}
