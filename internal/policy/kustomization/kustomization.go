// Package kustomization renders a local kustomization directory into policy
// Objects with kustomize's own build (sigs.k8s.io/kustomize/api/krusty),
// as `kustomize build DIR` would, with kustomize's defaults: files outside
// a kustomization's root are refused and plugins are off. Remote bases,
// resources and files (git repositories, URLs in resources, patches,
// generators…) and Helm chart inflation are refused with the reason
// before anything is fetched.
//
// Every object's Source is the file it was read from, resolved from the
// build's origin tracking (the same data as kustomize's
// buildMetadata: [originAnnotations]), so a violation introduced by an
// overlay's patch is reported on the base file the patched object comes
// from; generated objects name the kustomization that generates them.
package kustomization

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

// ErrRemote is returned (wrapped) for a kustomization that refers to a
// remote base or resource.
var ErrRemote = errors.New("remote kustomize bases and resources are not supported")

var buildErrors = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_kustomization_build_errors_total",
	Help: "Kustomizations that could not be built, by reason (remote, build, decode).",
}, []string{"reason"})

// Render builds the kustomization in dir on the local disk.
func Render(ctx context.Context, dir string) ([]*policy.Object, error) {
	return RenderFS(ctx, filesys.MakeFsOnDisk(), dir)
}

// RenderFS builds the kustomization in dir of fSys (an on-disk or
// in-memory kustomize file system).
func RenderFS(ctx context.Context, fSys filesys.FileSystem, dir string) ([]*policy.Object, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", dir, err)
	}
	if !fSys.IsDir(root) {
		return nil, fmt.Errorf("kustomization %s: not a directory: pass the directory holding kustomization.yaml", dir)
	}
	guard := &localFS{FileSystem: fSys, root: root}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(guard, root)
	if err != nil {
		if guard.refused != nil {
			buildErrors.WithLabelValues("remote").Inc()
			return nil, fmt.Errorf("kustomization %s: %w", dir, guard.refused)
		}
		buildErrors.WithLabelValues("build").Inc()
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*policy.Object
	for _, res := range m.Resources() {
		origin, err := res.GetOrigin()
		if err != nil {
			buildErrors.WithLabelValues("decode").Inc()
			return nil, fmt.Errorf("kustomize build %s: origin of %s: %w", dir, res.CurId(), err)
		}
		source := filepath.Join(dir, konfig.DefaultKustomizationFileName())
		if origin != nil {
			switch {
			case origin.ConfiguredIn != "":
				source = filepath.Join(dir, origin.ConfiguredIn)
			case origin.Path != "":
				source = filepath.Join(dir, origin.Path)
			}
		}
		if guard.injected {
			if err := res.SetOrigin(nil); err != nil {
				return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
			}
		}
		data, err := res.AsYAML()
		if err != nil {
			buildErrors.WithLabelValues("decode").Inc()
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, res.CurId(), err)
		}
		objs, err := manifest.Decode(strings.NewReader(string(data)), source)
		if err != nil {
			buildErrors.WithLabelValues("decode").Inc()
			return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		for _, o := range objs {
			// One resource is one document: name the file alone.
			o.Source = source
		}
		out = append(out, objs...)
	}
	return out, nil
}

// localFS checks every kustomization file kustomize reads for remote
// references before kustomize acts on them, and turns on origin tracking
// in the root kustomization.
type localFS struct {
	filesys.FileSystem
	root string
	// refused is the first remote reference found.
	refused error
	// injected is set when origin tracking was turned on here (the
	// origin annotations are then removed from the objects).
	injected bool
}

// ReadFile implements filesys.FileSystem.
func (f *localFS) ReadFile(name string) ([]byte, error) {
	data, err := f.FileSystem.ReadFile(name)
	if err != nil || !slices.Contains(konfig.RecognizedKustomizationFileNames(), filepath.Base(name)) {
		return data, err
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		// kustomize reports the malformed file itself.
		return data, nil
	}
	dir := filepath.Dir(name)
	for _, ref := range slices.Concat(k.Resources, k.Bases, k.Components) {
		if f.isRemote(dir, ref) {
			f.refused = fmt.Errorf("%s refers to %q: %w; kubeward renders local kustomizations only: vendor the base into a local directory", name, ref, ErrRemote)
			return nil, f.refused
		}
	}
	for _, ref := range loadedFiles(&k) {
		if strings.Contains(ref, "://") {
			f.refused = fmt.Errorf("%s loads %q: %w; kubeward renders local kustomizations only: download the file next to the kustomization", name, ref, ErrRemote)
			return nil, f.refused
		}
	}
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 {
		f.refused = fmt.Errorf("%s inflates Helm charts (helmCharts), which needs the helm binary and chart downloads: scan the chart with --helm instead", name)
		return nil, f.refused
	}
	if filepath.Clean(dir) != f.root || slices.Contains(k.BuildMetadata, types.OriginAnnotations) {
		return data, nil
	}
	return f.withOriginTracking(name, data)
}

// withOriginTracking adds buildMetadata: [originAnnotations] to the root
// kustomization.
func (f *localFS) withOriginTracking(name string, data []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil || doc == nil {
		// kustomize reports the malformed file itself.
		return data, nil
	}
	meta, _ := doc["buildMetadata"].([]any)
	doc["buildMetadata"] = append(meta, types.OriginAnnotations)
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.injected = true
	return out, nil
}

// loadedFiles lists the kustomization's entries that kustomize loads as
// files (and would fetch over HTTP if given a URL), besides resources,
// bases and components. Inline documents (multi-line entries) are left
// out.
func loadedFiles(k *types.Kustomization) []string {
	files := slices.Concat(k.Crds, k.Configurations, k.Generators, k.Transformers, k.Validators)
	for _, p := range k.PatchesStrategicMerge {
		files = append(files, string(p))
	}
	for _, p := range slices.Concat(k.Patches, k.PatchesJson6902) {
		files = append(files, p.Path)
	}
	for _, r := range k.Replacements {
		files = append(files, r.Path)
	}
	if p, ok := k.OpenAPI["path"]; ok {
		files = append(files, p)
	}
	for _, g := range k.ConfigMapGenerator {
		files = append(files, slices.Concat(g.FileSources, g.EnvSources, []string{g.EnvSource})...)
	}
	for _, g := range k.SecretGenerator {
		files = append(files, slices.Concat(g.FileSources, g.EnvSources, []string{g.EnvSource})...)
	}
	return slices.DeleteFunc(files, func(f string) bool { return f == "" || strings.Contains(f, "\n") })
}

// isRemote reports whether a resources/bases/components entry names a
// remote location: a URL, a git address, or a host path (github.com/org/…)
// that is not a local file or directory.
func (f *localFS) isRemote(dir, ref string) bool {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.HasPrefix(ref, "git::") {
		return true
	}
	if filepath.IsAbs(ref) || f.Exists(filepath.Join(dir, ref)) {
		return false
	}
	host, rest, ok := strings.Cut(ref, "/")
	return ok && rest != "" && strings.Contains(host, ".") && host != "." && host != ".."
}
