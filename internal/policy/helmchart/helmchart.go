// Package helmchart renders a local Helm chart (a chart directory or a .tgz
// archive) into policy Objects with the Helm v3 Go SDK, as `helm template`
// would render it for an install: values files and --set values merged in
// Helm's order, dependencies enabled by conditions and tags, the chart's
// values schema enforced, hooks included. Nothing is fetched: repository
// charts and remote values are refused. Every object's Source is the
// template it came from, as Helm's `# Source:` comment names it
// (chart/templates/file.yaml), with the document number.
package helmchart

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/strvals"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
)

// DefaultReleaseName is the release name when Options.ReleaseName is
// empty, as `helm template` uses it.
const DefaultReleaseName = "release-name"

// Options choose how a chart is rendered.
type Options struct {
	// ValuesFiles are local YAML values files, merged in order (later
	// files win), as helm's --values.
	ValuesFiles []string
	// Set are key=value assignments in Helm's --set syntax, applied after
	// the values files in order.
	Set []string
	// ReleaseName is .Release.Name (default DefaultReleaseName).
	ReleaseName string
	// Namespace is .Release.Namespace; when set, namespaced objects the
	// chart leaves without a namespace are placed in it, as helm install
	// --namespace does. Empty means "default" for the templates and leaves
	// such objects without a namespace (they count as the default
	// namespace).
	Namespace string
}

var renderErrors = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kubeward_helmchart_render_errors_total",
	Help: "Helm charts that could not be rendered, by stage (load, values, dependencies, render, decode).",
}, []string{"stage"})

// Render loads the chart at chartPath and renders it with opts.
func Render(ctx context.Context, chartPath string, opts Options) ([]*policy.Object, error) {
	chrt, err := load(chartPath)
	if err != nil {
		renderErrors.WithLabelValues("load").Inc()
		return nil, err
	}
	vals, err := userValues(opts)
	if err != nil {
		renderErrors.WithLabelValues("values").Inc()
		return nil, fmt.Errorf("helm chart %s: %w", chartPath, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	objs, err := renderChart(chrt, vals, opts)
	if err != nil {
		return nil, fmt.Errorf("helm chart %s: %w", chartPath, err)
	}
	return objs, nil
}

// load reads a local chart directory or archive; anything else is
// refused with the reason.
func load(chartPath string) (*chart.Chart, error) {
	if strings.Contains(chartPath, "://") {
		return nil, fmt.Errorf("helm chart %q: only local chart directories and .tgz archives are supported (no repository or OCI fetches): run `helm pull` and pass the downloaded archive", chartPath)
	}
	if _, err := os.Stat(chartPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("helm chart %q not found: pass a local chart directory or .tgz archive (repository charts are not fetched: run `helm pull` first)", chartPath)
		}
		return nil, fmt.Errorf("helm chart: %w", err)
	}
	chrt, err := loader.Load(chartPath)
	if err != nil {
		return nil, fmt.Errorf("loading helm chart %s: %w", chartPath, err)
	}
	if chrt.Metadata.Type == "library" {
		return nil, fmt.Errorf("helm chart %s is a library chart, which renders no resources: scan a chart that depends on it", chartPath)
	}
	if err := checkDependencies(chrt); err != nil {
		return nil, fmt.Errorf("helm chart %s: %w", chartPath, err)
	}
	return chrt, nil
}

// checkDependencies requires every dependency of Chart.yaml to be vendored
// in charts/, as helm install does.
func checkDependencies(chrt *chart.Chart) error {
	var missing []string
	for _, dep := range chrt.Metadata.Dependencies {
		if !slices.ContainsFunc(chrt.Dependencies(), func(c *chart.Chart) bool { return c.Name() == dep.Name }) {
			missing = append(missing, dep.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dependencies %s are declared in Chart.yaml but missing from charts/: run `helm dependency build` first", strings.Join(missing, ", "))
	}
	return nil
}

// userValues merges the values files and --set assignments the way helm's
// values.Options.MergeValues does for local files: maps merge key by key,
// later sources win.
func userValues(opts Options) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range opts.ValuesFiles {
		if strings.Contains(f, "://") {
			return nil, fmt.Errorf("values file %q: only local files are supported", f)
		}
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", f, err)
		}
		base = mergeValues(base, v.AsMap())
	}
	for _, s := range opts.Set {
		if err := strvals.ParseInto(s, base); err != nil {
			return nil, fmt.Errorf("--set %q: %w (want key=value, e.g. image.tag=1.2.3)", s, err)
		}
	}
	return base, nil
}

// mergeValues merges b into a: nested maps merge, any other value of b
// replaces a's.
func mergeValues(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func renderChart(chrt *chart.Chart, vals map[string]any, opts Options) ([]*policy.Object, error) {
	if err := chartutil.ProcessDependenciesWithMerge(chrt, vals); err != nil {
		renderErrors.WithLabelValues("dependencies").Inc()
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	caps := chartutil.DefaultCapabilities
	if kv := chrt.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		renderErrors.WithLabelValues("values").Inc()
		return nil, fmt.Errorf("chart requires kubeVersion %s, which is incompatible with Kubernetes %s", kv, caps.KubeVersion.String())
	}
	release := chartutil.ReleaseOptions{Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	if release.Name == "" {
		release.Name = DefaultReleaseName
	}
	if release.Namespace == "" {
		release.Namespace = "default"
	}
	top, err := chartutil.ToRenderValues(chrt, vals, release, caps)
	if err != nil {
		renderErrors.WithLabelValues("values").Inc()
		return nil, err
	}
	files, err := engine.Render(chrt, top)
	if err != nil {
		renderErrors.WithLabelValues("render").Inc()
		return nil, fmt.Errorf("rendering templates: %w", err)
	}
	var out []*policy.Object
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !isManifest(name, files[name]) {
			continue
		}
		objs, err := manifest.Decode(strings.NewReader(files[name]), name)
		if err != nil {
			renderErrors.WithLabelValues("decode").Inc()
			return nil, fmt.Errorf("rendered template: %w", err)
		}
		for _, o := range objs {
			if opts.Namespace != "" && o.Ref.Namespace == "" && !policy.IsClusterScoped(o.GVK.Kind) {
				o.U.SetNamespace(opts.Namespace)
				o.Ref.Namespace = opts.Namespace
			}
		}
		out = append(out, objs...)
	}
	return out, nil
}

// isManifest reports whether a rendered file holds resources: partials
// (_*.tpl) and NOTES.txt do not, nor do files that render to nothing.
func isManifest(name, content string) bool {
	base := path.Base(name)
	return !strings.HasPrefix(base, "_") && base != "NOTES.txt" && strings.TrimSpace(content) != ""
}
