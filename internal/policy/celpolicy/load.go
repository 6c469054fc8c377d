package celpolicy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// MaxPolicyBytes bounds one policy file.
const MaxPolicyBytes = 8 << 20

var loadErrors = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kubeward_policy_load_errors_total",
	Help: "Policy documents refused by the CEL policy loader.",
})

// Bundle is a set of loaded policy documents.
type Bundle struct {
	Policies    []*admissionregistrationv1.ValidatingAdmissionPolicy
	Bindings    []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	CELPolicies []*CELPolicy
}

// Add appends the documents of o to b.
func (b *Bundle) Add(o *Bundle) {
	b.Policies = append(b.Policies, o.Policies...)
	b.Bindings = append(b.Bindings, o.Bindings...)
	b.CELPolicies = append(b.CELPolicies, o.CELPolicies...)
}

// Len returns the number of documents in b.
func (b *Bundle) Len() int { return len(b.Policies) + len(b.Bindings) + len(b.CELPolicies) }

// Load reads multi-document YAML or JSON policy documents. Each document
// must be a ValidatingAdmissionPolicy, a ValidatingAdmissionPolicyBinding
// (admissionregistration.k8s.io/v1) or a CELPolicy; unknown kinds and
// unknown fields are refused with the document's position.
func Load(r io.Reader, source string) (*Bundle, error) {
	b, err := load(r, source)
	if err != nil {
		loadErrors.Inc()
	}
	return b, err
}

func load(r io.Reader, source string) (*Bundle, error) {
	lr := &io.LimitedReader{R: r, N: MaxPolicyBytes + 1}
	yr := utilyaml.NewYAMLReader(bufio.NewReader(lr))
	b := &Bundle{}
	for doc := 1; ; doc++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading document %d: %w", source, doc, err)
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("%s: policy file larger than %d bytes", source, MaxPolicyBytes)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: invalid YAML: %w", source, doc, err)
		}
		js = bytes.TrimSpace(js)
		if len(js) == 0 || bytes.Equal(js, []byte("null")) {
			continue
		}
		// js is JSON from here on: decode it as JSON, not through the YAML
		// parser again.
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			return nil, fmt.Errorf("%s#%d: not a Kubernetes object: %w", source, doc, err)
		}
		where := fmt.Sprintf("%s#%d (%s)", source, doc, tm.Kind)
		switch {
		case tm.APIVersion == admissionregistrationv1.SchemeGroupVersion.String() && tm.Kind == "ValidatingAdmissionPolicy":
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			if err := decodeStrict(js, p); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			b.Policies = append(b.Policies, p)
		case tm.APIVersion == admissionregistrationv1.SchemeGroupVersion.String() && tm.Kind == "ValidatingAdmissionPolicyBinding":
			p := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			if err := decodeStrict(js, p); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			b.Bindings = append(b.Bindings, p)
		case tm.APIVersion == APIVersion && tm.Kind == KindCELPolicy:
			p := &CELPolicy{}
			if err := decodeStrict(js, p); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			b.CELPolicies = append(b.CELPolicies, p)
		default:
			return nil, fmt.Errorf("%s#%d: unsupported policy kind %s %s: want admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy or ValidatingAdmissionPolicyBinding, or %s %s",
				source, doc, tm.APIVersion, tm.Kind, APIVersion, KindCELPolicy)
		}
	}
	return b, nil
}

// decodeStrict decodes one JSON document into v, refusing unknown fields
// and trailing data.
func decodeStrict(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the object")
	}
	return nil
}
