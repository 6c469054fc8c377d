package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// WorkloadImages is the image inventory of one workload: what it declares
// and what its Pods report running.
type WorkloadImages struct {
	// Kind is Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod (a Pod
	// without a controller), or the kind of another controller that owns
	// Pods directly (e.g. a ReplicaSet without a Deployment).
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Images are the images the workload's pod template (a bare Pod's
	// spec) declares, init and ephemeral containers included, sorted and
	// without duplicates.
	Images []string `json:"images"`
	// Running are the images the workload's Pods report in their container
	// statuses, one entry per image and image ID, sorted.
	Running []RunningImage `json:"running"`
	// Pods counts the workload's Pods, whatever their phase.
	Pods int `json:"pods"`
}

// RunningImage is an image that containers of a workload's Pods run.
type RunningImage struct {
	// Image is the image as the container status reports it.
	Image string `json:"image"`
	// ImageID is the runtime's image ID (usually repository@digest).
	ImageID string `json:"imageID"`
	// Digest is the sha256 digest of ImageID, when it carries one.
	Digest string `json:"digest,omitempty"`
	// Pods counts the Pods with a container running it.
	Pods int `json:"pods"`
}

// ImageQuery selects an image by reference or by digest. Build it with
// ParseImageQuery.
type ImageQuery struct {
	// name is the normalized name:tag ("docker.io/library/nginx:1.27"),
	// empty for a digest-only query.
	name string
	// digest is "sha256:…" when the query carries a digest.
	digest string
}

// String returns the query in normalized form.
func (q ImageQuery) String() string {
	switch {
	case q.name == "":
		return q.digest
	case q.digest == "":
		return q.name
	}
	return q.name + "@" + q.digest
}

// ParseImageQuery parses an image reference ("nginx", "nginx:1.27",
// "ghcr.io/org/app:v1", "repo@sha256:…") or a bare digest ("sha256:…").
// A reference without tag or digest means the tag latest, as the container
// runtime reads it. A query with a digest matches by digest only, since the
// digest names the content whatever the repository or tag.
func ParseImageQuery(s string) (ImageQuery, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ImageQuery{}, errors.New("empty image: give a reference such as nginx:1.27 or a digest sha256:…")
	}
	ref, err := reference.ParseAnyReference(s)
	if err != nil {
		return ImageQuery{}, fmt.Errorf("image %q is neither a reference (registry/repository:tag or @sha256:…) nor a sha256 digest: %w", s, err)
	}
	var q ImageQuery
	if d, ok := ref.(reference.Digested); ok {
		q.digest = d.Digest().String()
	}
	if named, ok := ref.(reference.Named); ok {
		if _, ok := ref.(reference.Digested); !ok {
			named = reference.TagNameOnly(named)
		}
		q.name = normalizedName(named)
	}
	return q, nil
}

// normalizedName is a reference's full name with its tag, without digest.
func normalizedName(n reference.Named) string {
	if t, ok := n.(reference.Tagged); ok {
		return n.Name() + ":" + t.Tag()
	}
	return n.Name()
}

// normalizeImage returns the normalized name:tag and the digest of an image
// as written in a spec or a status; empty strings for what it lacks or
// cannot parse.
func normalizeImage(image string) (name, digest string) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(image))
	if err != nil {
		return "", ""
	}
	if d, ok := named.(reference.Digested); ok {
		digest = d.Digest().String()
	}
	if _, ok := named.(reference.Digested); !ok || isTagged(named) {
		name = normalizedName(reference.TagNameOnly(named))
	}
	return name, digest
}

func isTagged(n reference.Named) bool {
	_, ok := n.(reference.Tagged)
	return ok
}

// imageIDDigest returns the sha256 digest an image ID carries: runtimes
// report "repo@sha256:…", "docker-pullable://repo@sha256:…" or, for images
// without a repository digest, "sha256:…" (the config digest).
func imageIDDigest(id string) string {
	if _, rest, ok := strings.Cut(id, "://"); ok {
		id = rest
	}
	if i := strings.LastIndexByte(id, '@'); i >= 0 {
		id = id[i+1:]
	}
	ref, err := reference.ParseAnyReference(id)
	if err != nil {
		return ""
	}
	if d, ok := ref.(reference.Digested); ok {
		if _, named := ref.(reference.Named); !named {
			return d.Digest().String()
		}
	}
	return ""
}

// matchesImage reports whether a container image (as in a spec or a
// status), with the image ID its status reports ("" for a spec), is q.
func (q ImageQuery) matchesImage(image, imageID string) bool {
	name, digest := normalizeImage(image)
	if q.digest != "" {
		return digest == q.digest || (imageID != "" && imageIDDigest(imageID) == q.digest)
	}
	return name != "" && name == q.name
}

// ImageFilter selects workloads in Images.
type ImageFilter struct {
	// Namespace keeps only this namespace; empty keeps all.
	Namespace string
	// Image, when set, keeps only workloads that declare or run it.
	Image *ImageQuery
}

// workload gathers a workload's images and Pods while Images walks the
// caches.
type workload struct {
	WorkloadImages
	running map[[2]string]int // image, imageID → pods
	pods    []*corev1.Pod
}

// Images returns the image inventory of the workloads f selects, sorted by
// namespace, kind and name: every Deployment, StatefulSet, DaemonSet, Job,
// CronJob and controller-less Pod, with the images it declares and those
// its Pods report running. A Job owned by a CronJob, and a ReplicaSet
// owned by a Deployment, count towards their owner.
func (v *View) Images(f ImageFilter) ([]WorkloadImages, error) {
	ws, err := v.workloads(f.Namespace)
	if err != nil {
		return nil, err
	}
	out := make([]WorkloadImages, 0, len(ws))
	for _, w := range ws {
		if f.Image != nil && !w.uses(*f.Image) {
			continue
		}
		out = append(out, w.WorkloadImages)
	}
	return out, nil
}

// ImageUse is a workload that declares or runs an image.
type ImageUse struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Declared is true when the workload's spec names the image.
	Declared bool `json:"declared"`
	// Pods are the workload's Pods with a container running the image,
	// sorted.
	Pods []string `json:"pods"`
}

// WorkloadsRunning answers which workloads and Pods run an image: every
// workload that declares q or has Pods whose container statuses report
// it (by name:tag, or by digest in the image or image ID), sorted by
// namespace, kind and name.
func (v *View) WorkloadsRunning(q ImageQuery) ([]ImageUse, error) {
	ws, err := v.workloads("")
	if err != nil {
		return nil, err
	}
	var out []ImageUse
	for _, w := range ws {
		use := ImageUse{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Pods: []string{}}
		for _, img := range w.Images {
			if q.matchesImage(img, "") {
				use.Declared = true
				break
			}
		}
		for _, p := range w.pods {
			if podRuns(p, q) {
				use.Pods = append(use.Pods, p.Name)
			}
		}
		if use.Declared || len(use.Pods) > 0 {
			slices.Sort(use.Pods)
			out = append(out, use)
		}
	}
	return out, nil
}

// uses reports whether the workload declares or runs q.
func (w *workload) uses(q ImageQuery) bool {
	for _, img := range w.Images {
		if q.matchesImage(img, "") {
			return true
		}
	}
	for _, r := range w.Running {
		if q.matchesImage(r.Image, r.ImageID) {
			return true
		}
	}
	return false
}

// podRuns reports whether a container status of p reports q.
func podRuns(p *corev1.Pod, q ImageQuery) bool {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, s := range list {
			if q.matchesImage(s.Image, s.ImageID) {
				return true
			}
		}
	}
	return false
}

// workloads builds the inventory of namespace (all when empty), sorted.
func (v *View) workloads(namespace string) ([]*workload, error) {
	all := labels.Everything()
	byKey := map[string]*workload{}
	add := func(kind, ns, name string, spec *corev1.PodSpec) {
		w := &workload{WorkloadImages: WorkloadImages{Kind: kind, Namespace: ns, Name: name, Images: []string{}, Running: []RunningImage{}}, running: map[[2]string]int{}}
		if spec != nil {
			w.Images = specImages(spec)
		}
		byKey[kind+"/"+ns+"/"+name] = w
	}
	lister := v.factory.Apps().V1()
	deps, err := lister.Deployments().Lister().List(all)
	if err != nil {
		return nil, fmt.Errorf("cluster: list deployments: %w", err)
	}
	for _, d := range deps {
		if inNamespace(d.Namespace, namespace) {
			add("Deployment", d.Namespace, d.Name, &d.Spec.Template.Spec)
		}
	}
	stss, err := lister.StatefulSets().Lister().List(all)
	if err != nil {
		return nil, fmt.Errorf("cluster: list statefulsets: %w", err)
	}
	for _, s := range stss {
		if inNamespace(s.Namespace, namespace) {
			add("StatefulSet", s.Namespace, s.Name, &s.Spec.Template.Spec)
		}
	}
	dss, err := lister.DaemonSets().Lister().List(all)
	if err != nil {
		return nil, fmt.Errorf("cluster: list daemonsets: %w", err)
	}
	for _, d := range dss {
		if inNamespace(d.Namespace, namespace) {
			add("DaemonSet", d.Namespace, d.Name, &d.Spec.Template.Spec)
		}
	}
	cjs, err := v.factory.Batch().V1().CronJobs().Lister().List(all)
	if err != nil {
		return nil, fmt.Errorf("cluster: list cronjobs: %w", err)
	}
	for _, c := range cjs {
		if inNamespace(c.Namespace, namespace) {
			add("CronJob", c.Namespace, c.Name, &c.Spec.JobTemplate.Spec.Template.Spec)
		}
	}
	jobs, err := v.factory.Batch().V1().Jobs().Lister().List(all)
	if err != nil {
		return nil, fmt.Errorf("cluster: list jobs: %w", err)
	}
	for _, j := range jobs {
		if !inNamespace(j.Namespace, namespace) {
			continue
		}
		if up := controllerOf(j.OwnerReferences); up != nil && up.Kind == "CronJob" {
			continue // counted under its CronJob
		}
		add("Job", j.Namespace, j.Name, &j.Spec.Template.Spec)
	}
	pods, err := v.factory.Core().V1().Pods().Lister().List(all)
	if err != nil {
		return nil, fmt.Errorf("cluster: list pods: %w", err)
	}
	for _, p := range pods {
		if !inNamespace(p.Namespace, namespace) {
			continue
		}
		kind, name := v.owner(p.Namespace, p.OwnerReferences)
		if kind == "" {
			kind, name = "Pod", p.Name
			add(kind, p.Namespace, name, &p.Spec)
		}
		w := byKey[kind+"/"+p.Namespace+"/"+name]
		if w == nil { // a controller the view does not list (ReplicaSet alone, a Node for static Pods…)
			add(kind, p.Namespace, name, &p.Spec)
			w = byKey[kind+"/"+p.Namespace+"/"+name]
		}
		w.Pods++
		w.pods = append(w.pods, p)
		seen := map[[2]string]bool{}
		for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for _, s := range list {
				key := [2]string{s.Image, s.ImageID}
				if s.Image == "" || seen[key] {
					continue
				}
				seen[key] = true
				w.running[key]++
			}
		}
	}
	out := make([]*workload, 0, len(byKey))
	for _, w := range byKey {
		for k, n := range w.running {
			w.Running = append(w.Running, RunningImage{Image: k[0], ImageID: k[1], Digest: imageIDDigest(k[1]), Pods: n})
		}
		slices.SortFunc(w.Running, func(a, b RunningImage) int {
			return cmp.Or(cmp.Compare(a.Image, b.Image), cmp.Compare(a.ImageID, b.ImageID))
		})
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *workload) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// specImages returns the images a Pod spec declares, sorted, unique.
func specImages(spec *corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.InitContainers {
		out = append(out, c.Image)
	}
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	for _, c := range spec.EphemeralContainers {
		out = append(out, c.Image)
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func inNamespace(ns, want string) bool { return want == "" || ns == want }
