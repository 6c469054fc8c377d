package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	ociManifest = `"mediaType":"application/vnd.oci.image.manifest.v1+json"`
	ociIndex    = `"mediaType":"application/vnd.oci.image.index.v1+json"`
	digestA     = `"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`
	digestB     = `"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"`
	digestC     = `"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"`
)

func TestChooseManifest(t *testing.T) {
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	for _, tt := range []struct {
		name     string
		index    string
		want     v1.Platform
		explicit bool
		digest   string // a, b, c; "" means an error
	}{
		{"single without platform", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":10}]}`, amd64, false, "a"},
		{"single without platform, explicit", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":10}]}`, arm64, true, "a"},
		{"single other platform, implicit", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":10,"platform":{"os":"linux","architecture":"arm64"}}]}`, amd64, false, "a"},
		{"single other platform, explicit", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":10,"platform":{"os":"linux","architecture":"arm64"}}]}`, amd64, true, ""},
		{"by platform", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":10,"platform":{"os":"linux","architecture":"arm64"}},{` + ociManifest + `,` + digestB + `,"size":10,"platform":{"os":"linux","architecture":"amd64"}}]}`, amd64, false, "b"},
		{"attestation skipped", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":10,"platform":{"os":"unknown","architecture":"unknown"}},{` + ociManifest + `,` + digestB + `,"size":10,"platform":{"os":"linux","architecture":"amd64"}}]}`, amd64, true, "b"},
		{"nested index", `{"manifests":[{` + ociIndex + `,` + digestC + `,"size":10}]}`, amd64, false, "c"},
		{"no images", `{"manifests":[{"mediaType":"text/plain",` + digestA + `,"size":10}]}`, amd64, false, ""},
		{"manifest too large", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":999999999}]}`, amd64, false, ""},
		{"negative size", `{"manifests":[{` + ociManifest + `,` + digestA + `,"size":-1}]}`, amd64, false, ""},
		{"empty", `{"manifests":[]}`, amd64, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := v1.ParseIndexManifest(strings.NewReader(tt.index))
			if err != nil {
				t.Fatal(err)
			}
			d, err := chooseManifest(m, tt.want, tt.explicit)
			if tt.digest == "" {
				if err == nil {
					t.Fatalf("chose %s, want an error", d.Digest)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Digest.Hex[:1]; got != tt.digest {
				t.Errorf("chose %s, want digest %s…", d.Digest, tt.digest)
			}
		})
	}
}

// FuzzChooseManifest feeds arbitrary index.json documents through the
// parsing and selection the OCI layout reader does: it must never panic,
// and whatever it chooses is a bounded image or index descriptor.
func FuzzChooseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{`+ociManifest+`,`+digestA+`,"size":10}]}`), "")
	f.Add([]byte(`{"manifests":[{`+ociIndex+`,`+digestC+`,"size":10},{`+ociManifest+`,`+digestB+`,"size":10,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}`), "linux/arm/v7")
	f.Add([]byte(`{"manifests":null}`), "windows/amd64")
	f.Fuzz(func(t *testing.T, data []byte, platform string) {
		want := v1.Platform{OS: "linux", Architecture: "amd64"}
		explicit := false
		if p, err := v1.ParsePlatform(platform); err == nil && platform != "" {
			want, explicit = *p, true
		}
		m, err := v1.ParseIndexManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		d, err := chooseManifest(m, want, explicit)
		if err != nil {
			return
		}
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			t.Fatalf("chose a %s descriptor", d.MediaType)
		}
		if d.Size < 0 || d.Size > maxManifestBytes {
			t.Fatalf("chose a descriptor of %d bytes", d.Size)
		}
	})
}

// TestUnsafeEntriesCounted checks the metric that refused entries raise.
func TestUnsafeEntriesCounted(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "../x/requirements.txt", Typeflag: tar.TypeReg},
		{Name: "a/requirements.txt", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"},
		{Name: "b/requirements.txt", Typeflag: tar.TypeLink, Linkname: "b/requirements.txt"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	before := map[string]float64{}
	for _, r := range []string{reasonTraversal, reasonHardLink} {
		before[r] = testutil.ToFloat64(imageUnsafeEntries.WithLabelValues(r))
	}
	all := func(string, fs.FileInfo) bool { return true }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := applyLayer(context.Background(), root, &buf, all, newUnpackBudget(UnpackLimits{}), log); err != nil {
		t.Fatal(err)
	}
	for r, want := range map[string]float64{reasonTraversal: 1, reasonHardLink: 2} {
		if got := testutil.ToFloat64(imageUnsafeEntries.WithLabelValues(r)) - before[r]; got != want {
			t.Errorf("%s entries counted %v, want %v", r, got, want)
		}
	}
	bytesBefore := testutil.ToFloat64(imageLimitExceeded.WithLabelValues("bytes"))
	b := newUnpackBudget(UnpackLimits{MaxBytes: 10})
	if _, err := io.Copy(io.Discard, b.reader(strings.NewReader(strings.Repeat("x", 11)))); !errors.Is(err, ErrUnpackLimit) {
		t.Errorf("reading 11 bytes under a 10-byte limit: err = %v, want ErrUnpackLimit", err)
	}
	if got := testutil.ToFloat64(imageLimitExceeded.WithLabelValues("bytes")) - bytesBefore; got != 1 {
		t.Errorf("limit exceeded counted %v times, want 1", got)
	}
}
