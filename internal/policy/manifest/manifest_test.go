package manifest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/policy/manifest"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // Kind/name(source)
		wantErr string
	}{
		{"multi-document with comments and empty docs", "# header\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
			[]string{"ConfigMap/a(in#2)", "Secret/b(in#4)"}, ""},
		{"json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x:1"}]}}`,
			[]string{"Pod/p(in#1)"}, ""},
		{"list flattened", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {template: {spec: {containers: []}}}}\n",
			[]string{"ConfigMap/a(in#1.items[0])", "Deployment/d(in#1.items[1])"}, ""},
		{"generateName", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: run-}\nspec: {template: {spec: {containers: [{name: c, image: x:1}]}}}\n",
			[]string{"Job/run-(in#1)"}, ""},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", nil, "Kind' is missing"},
		{"scalar document", "just a string\n", nil, "not a mapping"},
		{"bad yaml", "a: [b\n", nil, "invalid YAML"},
		{"pod spec of the wrong type", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: notalist}\n", nil, "does not decode as a pod spec"},
		{"template not an object", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: 3}\n", nil, "spec.template is not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := manifest.Decode(strings.NewReader(tt.in), "in")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Ref.Kind+"/"+o.Ref.Name+"("+o.Source+")")
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodTemplatePaths(t *testing.T) {
	tests := []struct {
		doc, specPath string
	}{
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n", "spec"},
		{"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec: {template: {spec: {}}}\n", "spec.template.spec"},
		{"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {}}}}}\n", "spec.jobTemplate.spec.template.spec"},
		{"apiVersion: v1\nkind: PodTemplate\nmetadata: {name: t}\ntemplate: {spec: {}}\n", "template.spec"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", ""},
	}
	for _, tt := range tests {
		objs, err := manifest.Decode(strings.NewReader(tt.doc), "in")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if objs[0].Pod != nil {
			got = objs[0].Pod.SpecPath
		}
		if got != tt.specPath {
			t.Errorf("%s: spec path %q, want %q", objs[0].Ref.Kind, got, tt.specPath)
		}
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
	write("sub/b.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`)
	write("README.md", "not a manifest")
	write(".git/c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hidden}\n")
	objs, err := manifest.Load(context.Background(), strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stdin}\n"), dir, "-")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Ref.Name)
	}
	if strings.Join(names, ",") != "a,b,stdin" {
		t.Errorf("loaded %v, want a,b,stdin", names)
	}
	if _, err := manifest.Load(context.Background(), nil, filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
}
