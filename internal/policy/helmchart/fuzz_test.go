package helmchart

import (
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// FuzzRenderChart renders a chart whose values and template are fuzzed:
// loading, value coalescing, rendering and decoding the output must fail
// with an error, never panic.
func FuzzRenderChart(f *testing.F) {
	f.Add([]byte("debug: {enabled: true}\n"), []byte("{{ if .Values.debug.enabled }}apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n{{ end }}"), "debug.enabled=false")
	f.Add([]byte("a: 1\n"), []byte("kind: List\napiVersion: v1\nitems: [{apiVersion: v1, kind: Pod, metadata: {name: p}}]\n---\n{{ .Values.a }}"), "a=[1,2")
	f.Add([]byte(": not yaml"), []byte("{{ fail \"x\" }}"), "")
	f.Fuzz(func(t *testing.T, values, template []byte, set string) {
		chrt, err := loader.LoadFiles([]*loader.BufferedFile{
			{Name: "Chart.yaml", Data: []byte("apiVersion: v2\nname: fuzz\nversion: 0.1.0\n")},
			{Name: "values.yaml", Data: values},
			{Name: "templates/t.yaml", Data: template},
		})
		if err != nil {
			return
		}
		opts := Options{Namespace: "ns"}
		if set != "" {
			opts.Set = []string{set}
		}
		vals, err := userValues(opts)
		if err != nil {
			return
		}
		objs, err := renderChart(chrt, vals, opts)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Source == "" {
				t.Fatalf("object %s without source", o.Ref.Name)
			}
		}
	})
}
