package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubeward/kubeward/internal/policy"
	"github.com/kubeward/kubeward/internal/policy/helmchart"
	"github.com/kubeward/kubeward/internal/policy/kustomization"
	"github.com/kubeward/kubeward/internal/policy/manifest"
	"github.com/kubeward/kubeward/internal/policy/packs"
	"github.com/kubeward/kubeward/internal/policy/policytest"
	"github.com/kubeward/kubeward/internal/policy/render"
	"github.com/kubeward/kubeward/internal/report/junit"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Evaluate Kubernetes manifests against Pod Security Standards, best practices and CEL policies",
	}
	cmd.AddCommand(newPolicyScanCmd(app), newPolicyTestCmd(app))
	return cmd
}

func newPolicyScanCmd(app *App) *cobra.Command {
	var (
		output, failOn, configPath, pssVersion string
		packNames, policyFiles                 []string
		src                                    scanSources
	)
	cmd := &cobra.Command{
		Use:   "scan [PATH…|-] [--helm CHART] [--kustomize DIR]",
		Short: "Scan manifests (files, directories or - for stdin), Helm charts or kustomizations for policy violations",
		Long: `Scan multi-document YAML/JSON manifests, a local Helm chart (directory or
.tgz, rendered as helm template would, with --values, --set, --release and
--namespace) and a local kustomization (rendered as kustomize build would;
remote bases are refused). They may be combined; results name the file or
chart template each object came from. Without configuration the packs
` + strings.Join(packs.DefaultPacks, ", ") + ` run with neutral defaults.

Exit codes: 0 nothing failed at or above --fail-on, 1 something did,
2 usage or input error.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && src.helmChart == "" && src.kustomizeDir == "" {
				return errors.New("nothing to scan: pass manifest paths (- for stdin), --helm CHART or --kustomize DIR")
			}
			return src.validate(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(render.Formats, output) {
				return fmt.Errorf("--output %q: want one of %s", output, strings.Join(render.Formats, ", "))
			}
			threshold, err := policy.ParseSeverity(failOn)
			if err != nil {
				return fmt.Errorf("--fail-on: %w", err)
			}
			var cfg packs.Config
			if configPath != "" {
				if cfg, err = packs.ReadConfig(configPath); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("pack") {
				cfg.Packs = packNames
			}
			if pssVersion != "" {
				cfg.PSSVersion = pssVersion
			}
			cfg.Policies = append(cfg.Policies, policyFiles...)
			engine, err := packs.Build(cfg)
			if err != nil {
				return err
			}
			objs, err := src.load(cmd.Context(), args)
			if err != nil {
				return err
			}
			results, err := engine.Evaluate(cmd.Context(), policy.NewSet(true, objs...))
			if err != nil {
				return err
			}
			if err := render.Write(app.Out, output, results, render.Options{ToolVersion: Version, FailOn: threshold}); err != nil {
				return err
			}
			for i := range results {
				if results[i].Failed(threshold) {
					return ErrFindings
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "table", "output format: "+strings.Join(render.Formats, ", "))
	f.StringVar(&failOn, "fail-on", "high", "exit 1 when a result fails at or above this severity: info, low, medium, high, critical")
	f.StringSliceVar(&packNames, "pack", nil, "built-in packs to run (default "+strings.Join(packs.DefaultPacks, ",")+"; all: "+strings.Join(packs.Names, ",")+")")
	f.StringVar(&configPath, "policy-config", "", "policy configuration file (packs, parameters, policies, exclusions)")
	f.StringSliceVar(&policyFiles, "policy", nil, "CEL policy, ValidatingAdmissionPolicy(+Binding) or Kyverno ClusterPolicy file or directory (repeatable)")
	f.StringVar(&pssVersion, "pss-version", "", "Pod Security Standards version: latest (default) or v1.N")
	src.bind(f)
	return cmd
}

// scanSources are where `policy scan` reads objects from besides its
// arguments.
type scanSources struct {
	helmChart    string
	helm         helmchart.Options
	kustomizeDir string
}

func (s *scanSources) bind(f *pflag.FlagSet) {
	f.StringVar(&s.helmChart, "helm", "", "render and scan a local Helm chart (directory or .tgz; repositories are not fetched)")
	f.StringArrayVar(&s.helm.ValuesFiles, "values", nil, "Helm values file for --helm (repeatable, later files win)")
	f.StringArrayVar(&s.helm.Set, "set", nil, "Helm value for --helm as key=value, Helm's --set syntax (repeatable)")
	f.StringVar(&s.helm.ReleaseName, "release", helmchart.DefaultReleaseName, "Helm release name for --helm")
	f.StringVar(&s.helm.Namespace, "namespace", "", "Helm release namespace for --helm; objects the chart leaves without a namespace are placed in it")
	f.StringVar(&s.kustomizeDir, "kustomize", "", "build and scan a local kustomization directory (remote bases are refused)")
}

// validate refuses Helm options without --helm: they would be ignored.
func (s *scanSources) validate(cmd *cobra.Command) error {
	if s.helmChart != "" {
		return nil
	}
	for _, name := range []string{"values", "set", "release", "namespace"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s applies to --helm charts only: add --helm CHART", name)
		}
	}
	return nil
}

// load reads the manifest paths, then renders the chart and the
// kustomization.
func (s *scanSources) load(ctx context.Context, paths []string) ([]*policy.Object, error) {
	var objs []*policy.Object
	if len(paths) > 0 {
		got, err := manifest.Load(ctx, os.Stdin, paths...)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	if s.helmChart != "" {
		got, err := helmchart.Render(ctx, s.helmChart, s.helm)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	if s.kustomizeDir != "" {
		got, err := kustomization.Render(ctx, s.kustomizeDir)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func newPolicyTestCmd(app *App) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "test DIR",
		Short: "Run policy test cases (" + policytest.FileName + " files) under DIR",
		Long: `Run every ` + policytest.FileName + ` under DIR. A test file names policies,
resources and the expected outcome per policy (or rule) and resource:

  policies: [replica-limit.yaml]
  resources: [deployments.yaml]
  results:
  - {policy: replica-limit, resource: Deployment/prod/web, result: fail}

Exit codes: 0 every expectation held, 1 some did not, 2 error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cases, err := policytest.Run(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := writeTestCases(app, output, cases); err != nil {
				return err
			}
			for _, c := range cases {
				if !c.OK {
					return ErrFindings
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or junit")
	return cmd
}

func writeTestCases(app *App, output string, cases []policytest.CaseResult) error {
	switch output {
	case "table":
		failed := 0
		for _, c := range cases {
			status := "PASS"
			if !c.OK {
				status, failed = "FAIL", failed+1
			}
			fmt.Fprintf(app.Out, "%s  %s: %s %s on %s: want %s, got %s", status, c.Test, c.Policy, c.Rule, c.Resource, c.Result, c.Got)
			if !c.OK && c.Detail != "" {
				fmt.Fprintf(app.Out, " (%s)", c.Detail)
			}
			fmt.Fprintln(app.Out)
		}
		_, err := fmt.Fprintf(app.Out, "\n%d of %d expectations held\n", len(cases)-failed, len(cases))
		return err
	case "junit":
		doc := &junit.Testsuites{Name: "kubeward policy test"}
		suites := map[string]*junit.Testsuite{}
		var order []string
		for _, c := range cases {
			s := suites[c.File]
			if s == nil {
				s = &junit.Testsuite{Name: c.Test}
				suites[c.File], order = s, append(order, c.File)
			}
			tc := &junit.Testcase{Name: fmt.Sprintf("%s %s %s", c.Policy, c.Rule, c.Resource), Classname: c.Test}
			if !c.OK {
				tc.Failure = &junit.Failure{Message: fmt.Sprintf("want %s, got %s", c.Result, c.Got), Text: c.Detail}
			}
			s.Add(tc)
		}
		for _, f := range order {
			doc.Add(suites[f])
		}
		return junit.Write(app.Out, doc)
	}
	return fmt.Errorf("output format %q: want table or junit", output)
}
