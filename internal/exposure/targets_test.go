package exposure

import (
	"strings"
	"testing"

	"github.com/kubeward/kubeward/internal/cluster"
	"github.com/kubeward/kubeward/internal/scan/job"
)

func TestTargetsOf(t *testing.T) {
	d := "sha256:" + digestHex('a')
	tests := []struct {
		name string
		in   cluster.RunningImage
		want Targets
	}{
		{"short name, repo digest ID", cluster.RunningImage{Image: "nginx:1.27", ImageID: "docker.io/library/nginx@" + d},
			Targets{Pinned: "index.docker.io/library/nginx@" + d, Tagged: "index.docker.io/library/nginx:1.27"}},
		{"docker-pullable scheme", cluster.RunningImage{Image: "ghcr.io/org/app:v1", ImageID: "docker-pullable://ghcr.io/org/app@" + d},
			Targets{Pinned: "ghcr.io/org/app@" + d, Tagged: "ghcr.io/org/app:v1"}},
		{"no tag means latest", cluster.RunningImage{Image: "alpine"}, Targets{Tagged: "index.docker.io/library/alpine:latest"}},
		{"config digest ID gives no pin", cluster.RunningImage{Image: "alpine:3.20", ImageID: d}, Targets{Tagged: "index.docker.io/library/alpine:3.20"}},
		{"started by digest", cluster.RunningImage{Image: "quay.io/x/y@" + d, ImageID: "quay.io/x/y@" + d}, Targets{Pinned: "quay.io/x/y@" + d}},
		{"bare digest image", cluster.RunningImage{Image: d, ImageID: d}, Targets{}},
		{"bare digest image, repo digest ID", cluster.RunningImage{Image: d, ImageID: "registry.example/app@" + d}, Targets{Pinned: "registry.example/app@" + d}},
		{"unparsable", cluster.RunningImage{Image: "Not A Ref", ImageID: "@@"}, Targets{}},
		{"file path refused", cluster.RunningImage{Image: "../etc/passwd"}, Targets{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetsOf(tt.in); got != tt.want {
				t.Errorf("TargetsOf(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzTargetsOf feeds container statuses' image and image ID, which come
// from the cluster, to TargetsOf: it must not panic, and what it returns
// must be targets the scan service accepts unchanged.
func FuzzTargetsOf(f *testing.F) {
	d := "sha256:" + digestHex('b')
	f.Add("nginx:1.27", "docker.io/library/nginx@"+d)
	f.Add("alpine", d)
	f.Add(d, "docker-pullable://quay.io/x/y@"+d)
	f.Add("localhost:5000/a/b:c", "")
	f.Fuzz(func(t *testing.T, image, imageID string) {
		got := TargetsOf(cluster.RunningImage{Image: image, ImageID: imageID})
		for _, ref := range []string{got.Pinned, got.Tagged} {
			if ref == "" {
				continue
			}
			if again, err := job.ParseImage(ref); err != nil || again != ref {
				t.Errorf("TargetsOf(%q, %q) gave %q, which ParseImage turns into %q, %v", image, imageID, ref, again, err)
			}
		}
		if got.Pinned != "" && !strings.Contains(got.Pinned, "@sha256:") {
			t.Errorf("Pinned %q has no digest", got.Pinned)
		}
		if got.Tagged != "" && strings.Contains(got.Tagged, "@") {
			t.Errorf("Tagged %q has a digest", got.Tagged)
		}
	})
}
