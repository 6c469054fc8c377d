package sbom_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/kubeward/kubeward/internal/sbom"
	"github.com/kubeward/kubeward/internal/vulndb/vulndbtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	vulndbtest.Cleanup()
	os.Exit(code)
}

// FuzzRead feeds arbitrary bytes to Read: it must return packages or an
// ErrMalformed error, never panic, and whatever it reads must survive a
// write and a second read unchanged.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"django","version":"2.0.9","purl":"pkg:pypi/django@2.0.9"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x","documentNamespace":"https://example.com/x","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: x"]},"packages":[{"SPDXID":"SPDXRef-Package-1","name":"golang.org/x/net","versionInfo":"v0.1.0","downloadLocation":"NOASSERTION","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:golang/golang.org/x/net@v0.1.0"}]}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","components":[{"purl":"pkg:apk/alpine/musl@1.1.22-r3?distro=alpine-3.10&upstream=musl","components":[{"purl":"pkg:"}]}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.2","packages":[{"SPDXID":"SPDXRef-a","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:npm/%40a/b@1"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := sbom.Read(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, sbom.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := sbom.WriteCycloneDX(&buf, subject, doc.Packages); err != nil {
			t.Fatalf("write what was read: %v", err)
		}
		again, err := sbom.Read(&buf)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if len(again.Packages) != len(doc.Packages) {
			t.Fatalf("read back %d packages, wrote %d", len(again.Packages), len(doc.Packages))
		}
	})
}
