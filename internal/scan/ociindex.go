package scan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifestBytes bounds an image index or manifest read from an OCI
// layout. Real ones are a few kilobytes; a larger one is hostile or broken.
const maxManifestBytes = 4 << 20

// maxIndexDepth bounds how many image indexes may nest below index.json.
const maxIndexDepth = 4

// errNoMatchingManifest is returned when an image index lists no image for
// the requested platform.
var errNoMatchingManifest = errors.New("no image for the requested platform")

// chooseManifest picks the descriptor of index m to follow for platform
// want: an image manifest whose platform satisfies want, or, when the index
// names no platform for any image, its only image. explicit says whether
// want was given by the user; without it an index holding one image (an
// OCI layout written for one image, which often carries no platform) is
// taken as is. When no image matches but nested indexes are listed, the
// first of them is returned and the caller descends into it. Attestation
// manifests (platform unknown/unknown) are never chosen.
func chooseManifest(m *v1.IndexManifest, want v1.Platform, explicit bool) (v1.Descriptor, error) {
	if m == nil {
		return v1.Descriptor{}, errors.New("image index is empty")
	}
	var images, indexes []v1.Descriptor
	for _, d := range m.Manifests {
		if d.Size < 0 || d.Size > maxManifestBytes {
			return v1.Descriptor{}, fmt.Errorf("image index lists manifest %s of %d bytes (at most %d accepted)", d.Digest, d.Size, maxManifestBytes)
		}
		switch {
		case d.MediaType.IsImage():
			if d.Platform != nil && d.Platform.OS == "unknown" {
				continue // a build attestation, not an image
			}
			images = append(images, d)
		case d.MediaType.IsIndex():
			indexes = append(indexes, d)
		}
	}
	for _, d := range images {
		if d.Platform != nil && d.Platform.Satisfies(want) {
			return d, nil
		}
	}
	if len(images) == 1 && (images[0].Platform == nil || !explicit) {
		return images[0], nil
	}
	if len(images) > 1 && !explicit && !slices.ContainsFunc(images, func(d v1.Descriptor) bool { return d.Platform != nil }) {
		return images[0], nil
	}
	if len(indexes) > 0 {
		return indexes[0], nil
	}
	var have []string
	for _, d := range images {
		if d.Platform != nil {
			have = append(have, d.Platform.String())
		}
	}
	if len(images) == 0 {
		return v1.Descriptor{}, fmt.Errorf("%w: the index lists no image manifest (media types %s or %s)", errNoMatchingManifest, types.OCIManifestSchema1, types.DockerManifestSchema2)
	}
	return v1.Descriptor{}, fmt.Errorf("%w: want %s, the index has %s; choose one with --platform", errNoMatchingManifest, want.String(), strings.Join(have, ", "))
}
