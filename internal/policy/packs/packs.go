// Package packs turns pack names, a policy configuration file and custom
// policy files into a policy.Engine. It is what the scanner, the policy
// test runner and the admission webhook share to build the same engine
// from the same configuration.
//
// Configuration file (YAML or JSON; every field optional):
//
//	packs: [pss-restricted, best-practice, hardening]   # the default
//	pssVersion: latest                                  # or v1.N
//	bestPractice:
//	  minReplicas: 2
//	  maxReplicas: 10
//	  allowedRegistries: ["registry.example.com/*", "docker.io/library"]
//	  requireCPULimit: true
//	  probes: all-of                                    # or any-of (default)
//	policies: [policies/vap.yaml]                       # relative to the file
//	exclude: [hardening/image-pull-policy, pss-restricted/runAsNonRoot]
package packs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/bestpractice"
	"github.com/kubeward/kubeward/internal/policy/celpolicy"
	"github.com/kubeward/kubeward/internal/policy/hardening"
	"github.com/kubeward/kubeward/internal/policy/kyverno"
	"github.com/kubeward/kubeward/internal/policy/pss"
)

// Pack names.
const (
	PSSBaseline   = pss.BaselineName
	PSSRestricted = pss.RestrictedName
	BestPractice  = bestpractice.Name
	Hardening     = hardening.Name
)

// Names lists every built-in pack.
var Names = []string{PSSBaseline, PSSRestricted, BestPractice, Hardening}

// DefaultPacks run when nothing is configured: PSS restricted (which
// includes baseline), the best-practice rules with neutral defaults and
// the hardening checks.
var DefaultPacks = []string{PSSRestricted, BestPractice, Hardening}

// Config is the policy configuration.
type Config struct {
	// Packs are the built-in packs to run (default DefaultPacks).
	Packs []string `json:"packs,omitempty"`
	// PSSVersion pins the Pod Security Standards version (default latest).
	PSSVersion string `json:"pssVersion,omitempty"`
	// BestPractice parameterises the best-practice pack.
	BestPractice bestpractice.Config `json:"bestPractice,omitempty"`
	// Policies are CEL, ValidatingAdmissionPolicy or Kyverno policy files
	// or directories.
	Policies []string `json:"policies,omitempty"`
	// Exclude drops whole policies ("hardening") or single rules
	// ("hardening/image-pull-policy") from the results.
	Exclude []string `json:"exclude,omitempty"`
}

// ReadConfig reads a configuration file; relative policy paths are
// resolved against the file's directory.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("policy config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("policy config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i, p := range c.Policies {
		if !filepath.IsAbs(p) {
			c.Policies[i] = filepath.Join(dir, p)
		}
	}
	return c, nil
}

// Build returns the engine cfg describes.
func Build(cfg Config) (*policy.Engine, error) {
	names := cfg.Packs
	if len(names) == 0 {
		names = DefaultPacks
	}
	// Restricted includes every baseline check: running both would report
	// baseline controls twice.
	if slices.Contains(names, PSSRestricted) {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == PSSBaseline })
	}
	var checkers []policy.Checker
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		c, err := builtin(n, cfg)
		if err != nil {
			return nil, err
		}
		checkers = append(checkers, c)
	}
	custom, err := LoadPolicies(cfg.Policies...)
	if err != nil {
		return nil, err
	}
	checkers = append(checkers, custom...)
	if len(cfg.Exclude) > 0 {
		for i, c := range checkers {
			checkers[i] = policy.Exclude(c, cfg.Exclude...)
		}
	}
	return policy.NewEngine(checkers...), nil
}

func builtin(name string, cfg Config) (policy.Checker, error) {
	switch name {
	case PSSBaseline:
		return pss.New("baseline", cfg.PSSVersion)
	case PSSRestricted:
		return pss.New("restricted", cfg.PSSVersion)
	case BestPractice:
		return bestpractice.New(cfg.BestPractice)
	case Hardening:
		return hardening.New(), nil
	}
	return nil, fmt.Errorf("unknown policy pack %q: want one of %s", name, strings.Join(Names, ", "))
}

// LoadPolicies loads custom policy files: ValidatingAdmissionPolicy,
// ValidatingAdmissionPolicyBinding and CELPolicy documents (package
// celpolicy) and Kyverno ClusterPolicy / Policy documents (package
// kyverno), in any mix; directories are walked for .yaml, .yml and .json
// files.
func LoadPolicies(paths ...string) ([]policy.Checker, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	b := &celpolicy.Bundle{}
	var kyvernoPolicies []*kyverno.Policy
	for _, p := range paths {
		files, err := policyFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			docs, err := splitDocuments(f)
			if err != nil {
				return nil, err
			}
			for i, doc := range docs {
				src := fmt.Sprintf("%s#%d", f, i+1)
				var tm metav1.TypeMeta
				if err := yaml.Unmarshal(doc, &tm); err != nil {
					return nil, fmt.Errorf("%s: invalid YAML: %w", src, err)
				}
				if kyverno.IsPolicyDocument(tm.APIVersion, tm.Kind) {
					got, err := kyverno.Load(bytes.NewReader(doc), src)
					if err != nil {
						return nil, err
					}
					kyvernoPolicies = append(kyvernoPolicies, got...)
					continue
				}
				got, err := celpolicy.Load(bytes.NewReader(doc), src)
				if err != nil {
					return nil, err
				}
				b.Add(got)
			}
		}
	}
	compiled, err := celpolicy.Compile(b)
	if err != nil {
		return nil, err
	}
	out := make([]policy.Checker, 0, len(compiled)+len(kyvernoPolicies))
	for _, c := range compiled {
		out = append(out, c)
	}
	for _, k := range kyvernoPolicies {
		out = append(out, k)
	}
	return out, nil
}

// splitDocuments reads a multi-document YAML or JSON file.
func splitDocuments(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: celpolicy.MaxPolicyBytes + 1}
	yr := utilyaml.NewYAMLReader(bufio.NewReader(lr))
	var out [][]byte
	for {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("policy file %s: %w", path, err)
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("policy file %s: larger than %d bytes", path, celpolicy.MaxPolicyBytes)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
}

func policyFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("policy path: %w", err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				out = append(out, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy directory %s: %w", p, err)
	}
	return out, nil
}
