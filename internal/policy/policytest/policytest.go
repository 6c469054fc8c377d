// Package policytest runs policy test cases: a directory tree of
// kubeward-test.yaml files, each naming policies, resources and the
// expected outcome per policy (or rule) and resource.
//
//	# kubeward-test.yaml
//	name: replica limits                 # default: the directory name
//	config: policy-config.yaml           # optional packs configuration (see package packs)
//	packs: [best-practice]               # optional; overrides config packs
//	policies: [replica-limit.yaml]       # CEL / ValidatingAdmissionPolicy files
//	resources: [deployments.yaml]        # manifests (files or directories)
//	results:
//	- policy: replica-limit
//	  rule: validations[0]               # optional: every rule of the policy
//	  resource: Deployment/prod/web      # Kind/namespace/name or Kind/name
//	  result: fail                       # pass | fail | skip
//
// Paths are relative to the test file. An expected fail holds when some
// matching result failed; pass when some matched and none failed; skip
// when none passed or failed (the rule did not apply or was skipped).
// When only policies are given, no built-in pack runs.
package policytest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/manifest"
	"github.com/kubeward/kubeward/internal/policy/packs"
)

// FileName is the name of test files.
const FileName = "kubeward-test.yaml"

// File is one test file.
type File struct {
	Name      string        `json:"name,omitempty"`
	Config    string        `json:"config,omitempty"`
	Packs     []string      `json:"packs,omitempty"`
	Policies  []string      `json:"policies,omitempty"`
	Resources []string      `json:"resources"`
	Results   []Expectation `json:"results"`
}

// Expectation is one expected outcome.
type Expectation struct {
	Policy   string         `json:"policy"`
	Rule     string         `json:"rule,omitempty"`
	Resource string         `json:"resource"`
	Result   policy.Outcome `json:"result"`
}

// CaseResult is the verdict on one expectation.
type CaseResult struct {
	// Test is the test's name and File its path.
	Test, File string
	Expectation
	// Got is the observed outcome.
	Got policy.Outcome
	// OK is true when Got matches the expectation.
	OK bool
	// Detail lists the matching results' messages.
	Detail string
}

// Run finds every test file under dir and runs it.
func Run(ctx context.Context, dir string) ([]CaseResult, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == FileName {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("policy tests: no %s under %s: write one (see kubeward policy test --help)", FileName, dir)
	}
	sort.Strings(files)
	var out []CaseResult
	for _, f := range files {
		res, err := RunFile(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// RunFile runs one test file.
func RunFile(ctx context.Context, path string) ([]CaseResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy test: %w", err)
	}
	var tf File
	if err := yaml.UnmarshalStrict(data, &tf); err != nil {
		return nil, fmt.Errorf("policy test %s: %w", path, err)
	}
	if len(tf.Resources) == 0 || len(tf.Results) == 0 {
		return nil, fmt.Errorf("policy test %s: resources and results are required", path)
	}
	dir := filepath.Dir(path)
	if tf.Name == "" {
		tf.Name = filepath.Base(dir)
	}
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var cfg packs.Config
	if tf.Config != "" {
		if cfg, err = packs.ReadConfig(rel(tf.Config)); err != nil {
			return nil, err
		}
	}
	if len(tf.Packs) > 0 {
		cfg.Packs = tf.Packs
	}
	for _, p := range tf.Policies {
		cfg.Policies = append(cfg.Policies, rel(p))
	}
	customOnly := len(tf.Packs) == 0 && tf.Config == "" && len(tf.Policies) > 0
	engine, err := buildEngine(cfg, customOnly)
	if err != nil {
		return nil, fmt.Errorf("policy test %s: %w", path, err)
	}
	var paths []string
	for _, r := range tf.Resources {
		paths = append(paths, rel(r))
	}
	objs, err := manifest.Load(ctx, nil, paths...)
	if err != nil {
		return nil, fmt.Errorf("policy test %s: %w", path, err)
	}
	results, err := engine.Evaluate(ctx, policy.NewSet(true, objs...))
	if err != nil {
		return nil, fmt.Errorf("policy test %s: %w", path, err)
	}
	out := make([]CaseResult, 0, len(tf.Results))
	for i, e := range tf.Results {
		switch e.Result {
		case policy.Pass, policy.Fail, policy.Skip:
		default:
			return nil, fmt.Errorf("policy test %s: results[%d].result %q: want pass, fail or skip", path, i, e.Result)
		}
		out = append(out, judge(tf.Name, path, e, results))
	}
	return out, nil
}

func buildEngine(cfg packs.Config, customOnly bool) (*policy.Engine, error) {
	if !customOnly {
		return packs.Build(cfg)
	}
	checkers, err := packs.LoadPolicies(cfg.Policies...)
	if err != nil {
		return nil, err
	}
	return policy.NewEngine(checkers...), nil
}

func resourceMatches(want string, r policy.Resource) bool {
	parts := strings.Split(want, "/")
	switch len(parts) {
	case 2:
		return parts[0] == r.Kind && parts[1] == r.Name
	case 3:
		return parts[0] == r.Kind && parts[1] == r.Namespace && parts[2] == r.Name
	}
	return false
}

func judge(test, file string, e Expectation, results []policy.Result) CaseResult {
	var failed, passed bool
	var msgs []string
	for _, r := range results {
		if r.Policy != e.Policy || (e.Rule != "" && r.Rule != e.Rule) || !resourceMatches(e.Resource, r.Resource) {
			continue
		}
		switch r.Result {
		case policy.Fail:
			failed = true
			msgs = append(msgs, r.Rule+": "+r.Message)
		case policy.Pass:
			passed = true
		}
	}
	got := policy.Skip
	switch {
	case failed:
		got = policy.Fail
	case passed:
		got = policy.Pass
	}
	return CaseResult{Test: test, File: file, Expectation: e, Got: got, OK: got == e.Result, Detail: strings.Join(msgs, "; ")}
}
