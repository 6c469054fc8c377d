// Package corpus generates a deterministic corpus of Kubernetes manifests
// (Pods, Deployments, StatefulSets and Services, compliant or carrying
// known smells) for side-by-side benchmarks of policy tools and for the
// admission load generator. The same seed and size always yield the same
// manifests, byte for byte.
package corpus

import (
	"fmt"
	"math/rand/v2"

	"sigs.k8s.io/yaml"
)

// Smells a generated manifest may carry; each maps to rules of the Pod
// Security Standards, the classic best-practice rules or the hardening
// checks.
const (
	SmellPrivileged     = "privileged"
	SmellRunAsRoot      = "run-as-root"
	SmellHostNetwork    = "host-network"
	SmellHostPath       = "host-path"
	SmellCapSysAdmin    = "cap-sys-admin"
	SmellEscalation     = "allow-privilege-escalation"
	SmellLatestTag      = "latest-tag"
	SmellNoResources    = "no-resources"
	SmellNoProbes       = "no-probes"
	SmellDefaultNS      = "default-namespace"
	SmellNodePort       = "node-port"
	SmellWritableRootFS = "writable-root-fs"
	SmellUntrustedImage = "untrusted-registry"
	SmellSingleReplica  = "single-replica"
)

// workloadSmells are drawn independently for every pod-bearing manifest.
var workloadSmells = []string{
	SmellPrivileged, SmellRunAsRoot, SmellHostNetwork, SmellHostPath, SmellCapSysAdmin, SmellEscalation,
	SmellLatestTag, SmellNoResources, SmellNoProbes, SmellDefaultNS, SmellWritableRootFS, SmellUntrustedImage,
}

// Doc is one generated manifest.
type Doc struct {
	// Kind, Namespace and Name identify the object.
	Kind, Namespace, Name string
	// Smells are the defects built into the object (none: compliant).
	Smells []string
	// Object is the manifest as decoded JSON.
	Object map[string]any
}

// YAML returns the manifest as one YAML document.
func (d Doc) YAML() ([]byte, error) {
	b, err := yaml.Marshal(d.Object)
	if err != nil {
		return nil, fmt.Errorf("corpus: %s %s: %w", d.Kind, d.Name, err)
	}
	return b, nil
}

// Generate returns n manifests drawn with seed: 30% Pods, 30%
// Deployments, 20% StatefulSets and 20% Services. About one workload in
// four is compliant; the others carry each smell with probability 0.15.
func Generate(n int, seed uint64) []Doc {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	docs := make([]Doc, 0, n)
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		switch r := rng.IntN(10); {
		case r < 3:
			docs = append(docs, workload(rng, "Pod", name))
		case r < 6:
			docs = append(docs, workload(rng, "Deployment", name))
		case r < 8:
			docs = append(docs, workload(rng, "StatefulSet", name))
		default:
			docs = append(docs, service(rng, name))
		}
	}
	return docs
}

func draw(rng *rand.Rand) []string {
	if rng.IntN(4) == 0 {
		return nil
	}
	var out []string
	for _, s := range workloadSmells {
		if rng.IntN(100) < 15 {
			out = append(out, s)
		}
	}
	return out
}

func has(smells []string, s string) bool {
	for _, x := range smells {
		if x == s {
			return true
		}
	}
	return false
}

func container(name string, smells []string) map[string]any {
	repo, tag := "registry.example.com/team/"+name, ":1.4.2"
	if has(smells, SmellUntrustedImage) {
		repo = "docker.io/someone/" + name
	}
	if has(smells, SmellLatestTag) {
		tag = ":latest"
	}
	image := repo + tag
	sc := map[string]any{
		"allowPrivilegeEscalation": false,
		"runAsNonRoot":             true,
		"readOnlyRootFilesystem":   true,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
		"seccompProfile":           map[string]any{"type": "RuntimeDefault"},
	}
	if has(smells, SmellEscalation) {
		delete(sc, "allowPrivilegeEscalation")
	}
	if has(smells, SmellPrivileged) {
		sc["privileged"] = true
		delete(sc, "allowPrivilegeEscalation")
	}
	if has(smells, SmellRunAsRoot) {
		sc["runAsNonRoot"] = false
		sc["runAsUser"] = int64(0)
	}
	if has(smells, SmellCapSysAdmin) {
		sc["capabilities"] = map[string]any{"drop": []any{"ALL"}, "add": []any{"SYS_ADMIN"}}
	}
	if has(smells, SmellWritableRootFS) {
		delete(sc, "readOnlyRootFilesystem")
	}
	c := map[string]any{
		"name":            "app",
		"image":           image,
		"imagePullPolicy": "Always",
		"ports":           []any{map[string]any{"containerPort": int64(8080)}},
		"securityContext": sc,
	}
	if !has(smells, SmellNoResources) {
		c["resources"] = map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "1Gi"},
			"limits":   map[string]any{"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
		}
	}
	if !has(smells, SmellNoProbes) {
		probe := map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": int64(8080)}}
		c["livenessProbe"] = probe
		c["readinessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/ready", "port": int64(8080)}}
	}
	return c
}

func podSpec(name string, smells []string) map[string]any {
	spec := map[string]any{
		"automountServiceAccountToken": false,
		"securityContext":              map[string]any{"runAsNonRoot": true, "runAsUser": int64(10001), "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
		"containers":                   []any{container(name, smells)},
	}
	if has(smells, SmellRunAsRoot) {
		spec["securityContext"] = map[string]any{"runAsUser": int64(0), "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	}
	if has(smells, SmellHostNetwork) {
		spec["hostNetwork"] = true
	}
	if has(smells, SmellHostPath) {
		spec["volumes"] = []any{map[string]any{"name": "host", "hostPath": map[string]any{"path": "/var/run"}}}
	}
	return spec
}

func meta(name string, smells []string) map[string]any {
	ns := "apps"
	if has(smells, SmellDefaultNS) {
		ns = "default"
	}
	return map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"app": name}}
}

func workload(rng *rand.Rand, kind, name string) Doc {
	smells := draw(rng)
	m := meta(name, smells)
	var obj map[string]any
	if kind == "Pod" {
		obj = map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": podSpec(name, smells)}
	} else {
		replicas := int64(2 + rng.IntN(3))
		if rng.IntN(10) == 0 {
			replicas = 1
			smells = append(smells, SmellSingleReplica)
		}
		spec := map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec":     podSpec(name, smells),
			},
		}
		if kind == "StatefulSet" {
			spec["serviceName"] = name
		}
		obj = map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": m, "spec": spec}
	}
	return Doc{Kind: kind, Namespace: m["namespace"].(string), Name: name, Smells: smells, Object: obj}
}

func service(rng *rand.Rand, name string) Doc {
	var smells []string
	port := map[string]any{"port": int64(80), "targetPort": int64(8080)}
	spec := map[string]any{"selector": map[string]any{"app": name}, "ports": []any{port}}
	if rng.IntN(4) == 0 {
		smells = append(smells, SmellNodePort)
		spec["type"] = "NodePort"
		port["nodePort"] = int64(30000 + rng.IntN(2000))
	}
	if rng.IntN(8) == 0 {
		smells = append(smells, SmellDefaultNS)
	}
	m := meta(name, smells)
	return Doc{Kind: "Service", Namespace: m["namespace"].(string), Name: name, Smells: smells,
		Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": m, "spec": spec}}
}
