package kustomization_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/kustomization"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

func describe(objs []*policy.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = fmt.Sprintf("%s %s/%s <- %s", o.GVK.Kind, o.Ref.Namespace, o.Ref.Name, o.Source)
	}
	return out
}

// privilegedFailures returns the PSS restricted "privileged" failures as
// "namespace/name <- source".
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
			out = append(out, r.Resource.Namespace+"/"+r.Resource.Name+" <- "+r.Source)
		}
	}
	return out
}

func TestRender(t *testing.T) {
	base := filepath.Join("testdata", "base", "deployment.yaml")
	tests := []struct {
		dir        string
		want       []string
		privileged []string
	}{
		{dir: "base", want: []string{"Deployment /api <- " + base}},
		{dir: "overlays/prod", want: []string{"Deployment prod/api <- " + base},
			privileged: []string{"prod/api <- " + base}},
		{dir: "overlays/generated", want: []string{
			"Deployment staging/api <- " + base,
			"ConfigMap staging/api-config-47668c6k28 <- " + filepath.Join("testdata", "overlays", "generated", "kustomization.yaml"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			objs, err := kustomization.Render(context.Background(), filepath.Join("testdata", tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(objs); !slices.Equal(got, tt.want) {
				t.Errorf("objects:\n got %q\nwant %q", got, tt.want)
			}
			for _, o := range objs {
				if _, ok := o.U.GetAnnotations()["config.kubernetes.io/origin"]; ok {
					t.Errorf("%s keeps the origin annotation kubeward turned on", o.Ref.Name)
				}
			}
			if got := privilegedFailures(t, objs); !slices.Equal(got, tt.privileged) {
				t.Errorf("privileged failures: got %q, want %q", got, tt.privileged)
			}
		})
	}
}

func TestRenderInMemory(t *testing.T) {
	fSys := filesys.MakeFsInMemory()
	for name, content := range map[string]string{
		"/app/kustomization.yaml": "resources: [pod.yaml]\nnamePrefix: dev-\n",
		"/app/pod.yaml":           "apiVersion: v1\nkind: Pod\nmetadata: {name: shell}\nspec:\n  hostNetwork: true\n  containers: [{name: sh, image: busybox}]\n",
	} {
		if err := fSys.WriteFile(name, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := kustomization.RenderFS(context.Background(), fSys, "/app")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(objs), []string{"Pod /dev-shell <- /app/pod.yaml"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		dir    string
		want   string
		remote bool
	}{
		{dir: "overlays/remote", remote: true,
			want: `refers to "github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v3.3.1": remote kustomize bases and resources are not supported`},
		{dir: "overlays/helm", want: "inflates Helm charts (helmCharts)"},
		{dir: "nope", want: "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			_, err := kustomization.Render(context.Background(), filepath.Join("testdata", tt.dir))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			if got := errors.Is(err, kustomization.ErrRemote); got != tt.remote {
				t.Errorf("errors.Is(err, ErrRemote) = %v, want %v", got, tt.remote)
			}
		})
	}
}

func TestRemoteReferences(t *testing.T) {
	var remoteRefs []string
	for _, ref := range []string{
		"https://raw.githubusercontent.com/org/repo/main/deploy.yaml",
		"git@github.com:org/repo.git//deploy",
		"git::https://example.com/org/repo.git",
		"github.com/org/repo//deploy?ref=v1",
		"ssh://git@example.com/org/repo",
	} {
		remoteRefs = append(remoteRefs, "resources:\n- "+ref+"\n")
	}
	remoteRefs = append(remoteRefs,
		"resources: [r.yaml]\npatches:\n- path: https://example.com/patch.yaml\n",
		"resources: [r.yaml]\nconfigMapGenerator:\n- name: c\n  files: [conf=https://example.com/app.conf]\n",
		"resources: [r.yaml]\ncrds: [http://example.com/crd.yaml]\n",
		"resources: [r.yaml]\nopenapi: {path: https://example.com/schema.json}\n",
	)
	for _, kust := range remoteRefs {
		t.Run(kust, func(t *testing.T) {
			fSys := filesys.MakeFsInMemory()
			if err := fSys.WriteFile("/app/kustomization.yaml", []byte(kust)); err != nil {
				t.Fatal(err)
			}
			if err := fSys.WriteFile("/app/r.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")); err != nil {
				t.Fatal(err)
			}
			_, err := kustomization.RenderFS(context.Background(), fSys, "/app")
			if !errors.Is(err, kustomization.ErrRemote) {
				t.Fatalf("got %v, want ErrRemote", err)
			}
		})
	}
}
