package helmchart_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/helmchart"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// describe lists the objects as "Kind namespace/name <- source".
func describe(objs []*policy.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = fmt.Sprintf("%s %s/%s <- %s", o.GVK.Kind, o.Ref.Namespace, o.Ref.Name, o.Source)
	}
	return out
}

// privilegedFailures returns the PSS restricted "privileged" failures as
// "name <- source".
func privilegedFailures(t *testing.T, objs []*policy.Object) []string {
	t.Helper()
	engine, err := packs.Build(packs.Config{Packs: []string{packs.PSSRestricted}})
	if err != nil {
		t.Fatal(err)
	}
	results, err := engine.Evaluate(context.Background(), policy.NewSet(true, objs...))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range results {
		if r.Result == policy.Fail && r.Control == "privileged" {
			out = append(out, r.Resource.Name+" <- "+r.Source)
		}
	}
	return out
}

// archive packs the test chart into a .tgz in a temporary directory.
func archive(t *testing.T, dir string) string {
	t.Helper()
	chrt, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	path, err := chartutil.Save(chrt, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRender(t *testing.T) {
	web := filepath.Join("testdata", "web")
	compliant := []string{
		"Deployment /release-name-web <- web/templates/deployment.yaml#1",
		"Service /release-name-web <- web/templates/deployment.yaml#2",
	}
	debugPod := "Pod /release-name-web-debug <- web/templates/debug-pod.yaml#1"
	tests := []struct {
		name       string
		chart      string
		opts       helmchart.Options
		want       []string
		privileged []string
	}{
		{name: "defaults", chart: web, want: compliant},
		{name: "values file enables the privileged pod", chart: web,
			opts:       helmchart.Options{ValuesFiles: []string{filepath.Join("testdata", "debug-values.yaml")}},
			want:       append([]string{debugPod}, compliant...),
			privileged: []string{"release-name-web-debug <- web/templates/debug-pod.yaml#1"}},
		{name: "set enables the privileged pod", chart: web,
			opts:       helmchart.Options{Set: []string{"debug.enabled=true"}},
			want:       append([]string{debugPod}, compliant...),
			privileged: []string{"release-name-web-debug <- web/templates/debug-pod.yaml#1"}},
		{name: "set after values file wins", chart: web,
			opts: helmchart.Options{ValuesFiles: []string{filepath.Join("testdata", "debug-values.yaml")}, Set: []string{"debug.enabled=false"}},
			want: compliant},
		{name: "release name and namespace", chart: web,
			opts: helmchart.Options{ReleaseName: "shop", Namespace: "team-a", Set: []string{"debug.enabled=true"}},
			want: []string{
				"Pod team-a/shop-web-debug <- web/templates/debug-pod.yaml#1",
				"Deployment team-a/shop-web <- web/templates/deployment.yaml#1",
				"Service team-a/shop-web <- web/templates/deployment.yaml#2",
			},
			privileged: []string{"shop-web-debug <- web/templates/debug-pod.yaml#1"}},
		{name: "subchart enabled by its condition", chart: web, opts: helmchart.Options{Set: []string{"cache.enabled=true"}},
			want: []string{"Deployment /release-name-cache <- web/charts/cache/templates/deployment.yaml#1", compliant[0], compliant[1]}},
		{name: "archive", chart: archive(t, web), opts: helmchart.Options{Set: []string{"debug.enabled=true"}},
			want:       append([]string{debugPod}, compliant...),
			privileged: []string{"release-name-web-debug <- web/templates/debug-pod.yaml#1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := helmchart.Render(context.Background(), tt.chart, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(objs); !slices.Equal(got, tt.want) {
				t.Errorf("objects:\n got %q\nwant %q", got, tt.want)
			}
			if got := privilegedFailures(t, objs); !slices.Equal(got, tt.privileged) {
				t.Errorf("privileged failures: got %q, want %q", got, tt.privileged)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	web := filepath.Join("testdata", "web")
	tests := []struct {
		name  string
		chart string
		opts  helmchart.Options
		want  string
	}{
		{name: "missing chart", chart: filepath.Join("testdata", "nope"), want: "not found: pass a local chart directory or .tgz archive"},
		{name: "repository URL", chart: "oci://registry.example.com/charts/web", want: "no repository or OCI fetches"},
		{name: "missing dependency", chart: filepath.Join("testdata", "needs-dep"), want: "dependencies redis are declared in Chart.yaml but missing from charts/"},
		{name: "library chart", chart: filepath.Join("testdata", "lib"), want: "is a library chart"},
		{name: "bad set", chart: web, opts: helmchart.Options{Set: []string{"debug.enabled"}}, want: `--set "debug.enabled"`},
		{name: "missing values file", chart: web, opts: helmchart.Options{ValuesFiles: []string{filepath.Join("testdata", "nope.yaml")}}, want: "values file testdata/nope.yaml"},
		{name: "remote values file", chart: web, opts: helmchart.Options{ValuesFiles: []string{"https://example.com/v.yaml"}}, want: "only local files are supported"},
		{name: "schema violation", chart: web, opts: helmchart.Options{Set: []string{"replicas=0"}}, want: "values don't meet the specifications of the schema"},
		{name: "template error", chart: web, opts: helmchart.Options{Set: []string{"debug=oops"}}, want: "rendering templates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmchart.Render(context.Background(), tt.chart, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
