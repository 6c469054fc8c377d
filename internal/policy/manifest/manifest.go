// Package manifest decodes Kubernetes manifests: multi-document YAML or JSON
// files, directories of them, and standard input, into policy Objects.
// Documents of kind List (or any *List kind with items) are flattened.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/policy"
)

// MaxFileBytes bounds the size of one manifest file or stream.
const MaxFileBytes = 64 << 20

var decodeErrors = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_manifest_decode_errors_total",
	Help: "Manifest documents that failed to decode.",
})

// Decode reads every document of r. source names the input in error
// messages and in each object's Source (as source#N, N counting documents
// from 1). Empty documents and comment-only documents are ignored.
func Decode(r io.Reader, source string) ([]*policy.Object, error) {
	lr := &io.LimitedReader{R: r, N: MaxFileBytes + 1}
	yr := utilyaml.NewYAMLReader(bufio.NewReader(lr))
	var out []*policy.Object
	for doc := 1; ; doc++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			decodeErrors.Inc()
			return nil, fmt.Errorf("%s: reading document %d: %w", source, doc, err)
		}
		if lr.N <= 0 {
			decodeErrors.Inc()
			return nil, fmt.Errorf("%s: larger than %d bytes: split the input into smaller files", source, MaxFileBytes)
		}
		objs, err := decodeDocument(raw, fmt.Sprintf("%s#%d", source, doc))
		if err != nil {
			decodeErrors.Inc()
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func decodeDocument(raw []byte, source string) ([]*policy.Object, error) {
	if isBlank(raw) {
		return nil, nil
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", source, err)
	}
	js = bytes.TrimSpace(js)
	if bytes.Equal(js, []byte("null")) {
		return nil, nil
	}
	if len(js) == 0 || js[0] != '{' {
		return nil, fmt.Errorf("%s: document is not a mapping: each document must be one Kubernetes object", source)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %w", source, err)
	}
	if u.IsList() {
		list, err := u.ToList()
		if err != nil {
			return nil, fmt.Errorf("%s: invalid %s: %w", source, u.GetKind(), err)
		}
		out := make([]*policy.Object, 0, len(list.Items))
		for i := range list.Items {
			o, err := policy.NewObject(&list.Items[i], fmt.Sprintf("%s.items[%d]", source, i))
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		return out, nil
	}
	o, err := policy.NewObject(u, source)
	if err != nil {
		return nil, err
	}
	return []*policy.Object{o}, nil
}

func isBlank(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) != 0 && l[0] != '#' && !bytes.Equal(l, []byte("---")) {
			return false
		}
	}
	return true
}

// IsManifestFile reports whether name has a manifest extension
// (.yaml, .yml or .json).
func IsManifestFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Load decodes every path: "-" is standard input (stdin), a file is decoded
// whatever its extension, and a directory is walked for manifest files
// (hidden directories are skipped). Objects keep input order.
func Load(ctx context.Context, stdin io.Reader, paths ...string) ([]*policy.Object, error) {
	var out []*policy.Object
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p == "-" {
			objs, err := Decode(stdin, "<stdin>")
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("manifest path: %w", err)
		}
		if !st.IsDir() {
			objs, err := decodeFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !IsManifestFile(d.Name()) {
				return nil
			}
			objs, err := decodeFile(path)
			if err != nil {
				return err
			}
			out = append(out, objs...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("manifest directory %s: %w", p, err)
		}
	}
	return out, nil
}

func decodeFile(path string) ([]*policy.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest file: %w", err)
	}
	defer f.Close()
	return Decode(f, path)
}
