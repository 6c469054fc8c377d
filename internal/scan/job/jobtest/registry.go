package jobtest

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// StartRegistry serves an in-memory registry on 127.0.0.1 for the rest of
// the test and returns its host:port.
func StartRegistry(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Push writes the image of a `docker save` archive to ref (a reference on
// a StartRegistry host) and returns the image's digest.
func Push(tb testing.TB, ref string, dockerArchive []byte) string {
	tb.Helper()
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(dockerArchive)), nil }, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tag, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}
